import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Real third-party servers for the suites, each started on a free loopback
 * port with its own config in a temp dir (never the system's), and stopped
 * by the test. A missing binary skips its suite with a message, except in CI
 * (`CI=true`), where .ci/run installs them and a missing one is a failure.
 */
export function findBinary(name: string): string | undefined {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', '/sbin', '/bin']) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  return undefined;
}

/** The binary, or undefined with a note on stderr; throws in CI, where it must be there. */
export function requireBinary(name: string, why: string): string | undefined {
  const path = findBinary(name);
  if (path !== undefined) return path;
  const message = `${name} is not installed: ${why} are skipped (apt-get install ${name}; .ci/run installs it)`;
  if (process.env.CI === 'true') throw new Error(`${message}, but CI=true requires them`);
  process.stderr.write(`SKIP: ${message}\n`);
  return undefined;
}

/** A port nothing listens on right now (bound, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function waitForPort(port: number, child: ChildProcess, log: () => Promise<string>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${await log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    await delay(25);
  }
  throw new Error(`server did not listen on ${port}: ${await log()}`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
}

export interface Nginx {
  readonly origin: string;
  readonly tlsOrigin: string | undefined;
  readonly root: string;
  /** The access log: one line per request, `$msec $connection $connection_requests $status "$request" $body_bytes_sent "$http_range"`. */
  accessLog(): Promise<string[]>;
  stop(): Promise<void>;
}

export interface NginxOptions {
  /** Extra `location` blocks and directives for the plain server. */
  readonly locations?: string;
  /** Directives at `http {}` level (limit_req_zone, …). */
  readonly http?: string;
  /** Serve TLS too, with this certificate and key. */
  readonly tls?: { readonly cert: string; readonly key: string };
}

/** nginx in the foreground, one process, everything under `dir`. */
export async function startNginx(binary: string, dir: string, options: NginxOptions = {}): Promise<Nginx> {
  const root = join(dir, 'www');
  await mkdir(root, { recursive: true });
  await mkdir(join(dir, 'tmp'), { recursive: true });
  const port = await freePort();
  const tlsPort = options.tls ? await freePort() : undefined;
  const log = join(dir, 'access.log');
  const tlsServer = options.tls
    ? `server {
        listen 127.0.0.1:${tlsPort} ssl;
        ssl_certificate ${options.tls.cert};
        ssl_certificate_key ${options.tls.key};
        root ${root};
      }`
    : '';
  const conf = `
daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 512; }
http {
  log_format dlr '$msec $connection $connection_requests $status "$request" $body_bytes_sent "$http_range"';
  access_log ${log} dlr;
  client_body_temp_path ${join(dir, 'tmp')};
  proxy_temp_path ${join(dir, 'tmp')};
  fastcgi_temp_path ${join(dir, 'tmp')};
  uwsgi_temp_path ${join(dir, 'tmp')};
  scgi_temp_path ${join(dir, 'tmp')};
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 30s;
  ${options.http ?? ''}
  server {
    listen 127.0.0.1:${port};
    root ${root};
    ${options.locations ?? ''}
  }
  ${tlsServer}
}
`;
  const confPath = join(dir, 'nginx.conf');
  await writeFile(confPath, conf);
  const child = spawn(binary, ['-p', dir, '-c', confPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const errorLog = async () => stderr + (await readFile(join(dir, 'error.log'), 'utf8').catch(() => ''));
  await waitForPort(port, child, errorLog);
  if (tlsPort !== undefined) await waitForPort(tlsPort, child, errorLog);
  return {
    origin: `http://127.0.0.1:${port}`,
    tlsOrigin: tlsPort === undefined ? undefined : `https://127.0.0.1:${tlsPort}`,
    root,
    accessLog: async () => {
      // nginx writes its log line after the response; give it a moment.
      await delay(50);
      return (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean);
    },
    stop: () => stop(child),
  };
}

export interface Tinyproxy {
  readonly url: string;
  log(): Promise<string>;
  stop(): Promise<void>;
}

/** tinyproxy in the foreground; by default CONNECT is allowed only to port 443, as Debian ships it. */
export async function startTinyproxy(binary: string, dir: string, extra = ''): Promise<Tinyproxy> {
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const logFile = join(dir, 'tinyproxy.log');
  const confPath = join(dir, 'tinyproxy.conf');
  await writeFile(
    confPath,
    `Port ${port}
Listen 127.0.0.1
Timeout 30
LogFile "${logFile}"
LogLevel Info
MaxClients 50
Allow 127.0.0.1
ConnectPort 443
DisableViaHeader Yes
${extra}
`,
  );
  const child = spawn(binary, ['-d', '-c', confPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const log = async () => stderr + (await readFile(logFile, 'utf8').catch(() => ''));
  await waitForPort(port, child, log);
  return { url: `http://127.0.0.1:${port}`, log, stop: () => stop(child) };
}

/** A self-signed certificate for the names given (SAN), made with openssl in `dir`. */
export function makeCertificate(dir: string, name: string, altNames: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  const result = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`, '-addext', `subjectAltName=${altNames}`],
    { encoding: 'utf8' },
  );
  if (result.status !== 0) throw new Error(`openssl failed: ${result.stderr}`);
  return { cert, key };
}
