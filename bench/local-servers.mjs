// What the benches share: finding a binary, a free loopback port, and nginx
// started in the foreground with its own config under the bench's temp dir.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';

export function which(name) {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', '/bin']) if (existsSync(join(dir, name))) return join(dir, name);
  return undefined;
}

export async function freePort() {
  const server = createServer();
  await new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function waitForPort(port) {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((resolve) => {
      const s = createConnection({ host: '127.0.0.1', port }, () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`server on ${port} did not start`);
}

/**
 * nginx serving `${root}/www` on a free port (sendfile, keep-alive, no access
 * log), `serverDirectives` added to its server block; undefined without nginx.
 */
export async function startNginx(root, serverDirectives = '') {
  const nginx = which('nginx');
  if (nginx === undefined) return undefined;
  const port = await freePort();
  const dir = join(root, 'nginx');
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off; master_process off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http { access_log off; sendfile on; tcp_nopush on; keepalive_requests 10000; default_type application/octet-stream;
  client_body_temp_path ${dir}/tmp; proxy_temp_path ${dir}/tmp; fastcgi_temp_path ${dir}/tmp; uwsgi_temp_path ${dir}/tmp; scgi_temp_path ${dir}/tmp;
  server { listen 127.0.0.1:${port}; root ${root}/www; ${serverDirectives} } }`,
  );
  const child = spawn(nginx, ['-p', dir, '-c', conf], { stdio: 'ignore' });
  await waitForPort(port);
  return { origin: `http://127.0.0.1:${port}`, port, stop: () => child.kill('SIGTERM') };
}
