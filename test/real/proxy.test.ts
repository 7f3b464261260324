import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { freePort, makeCertificate, requireBinary, startNginx, startTinyproxy, type Nginx, type Tinyproxy } from '../helpers/real-servers.js';
import { makeTempDir } from '../helpers/temp-dir.js';

// dlr through a real forward proxy (tinyproxy, configured as Debian ships it:
// CONNECT only to port 443) in front of a real nginx. Skipped without them, except in CI.

const NGINX = requireBinary('nginx', 'the forward-proxy tests');
const TINYPROXY = requireBinary('tinyproxy', 'the forward-proxy tests');

describe.skipIf(NGINX === undefined || TINYPROXY === undefined)('through tinyproxy', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let nginx: Nginx;
  let open: Tinyproxy;
  let guarded: Tinyproxy;
  let cert: { cert: string; key: string };
  let body: Buffer;
  let n = 0;
  const fresh = async () => {
    const dir = join(tmp.path, `run-${++n}`);
    await mkdir(dir, { recursive: true });
    return dir;
  };
  const file = () => `${nginx.origin}/files/p.bin`;

  beforeAll(async () => {
    tmp = await makeTempDir('dlr-proxy-');
    cert = makeCertificate(tmp.path, 'loopback', 'IP:127.0.0.1');
    nginx = await startNginx(NGINX!, join(tmp.path, 'nginx'), { tls: cert });
    await mkdir(join(nginx.root, 'files'));
    body = randomBytes(300_000);
    await writeFile(join(nginx.root, 'files', 'p.bin'), body);
    open = await startTinyproxy(TINYPROXY!, join(tmp.path, 'tp-open'));
    guarded = await startTinyproxy(TINYPROXY!, join(tmp.path, 'tp-auth'), 'BasicAuth dlruser s3cret-pw');
  }, 60_000);

  afterAll(async () => {
    await open?.stop();
    await guarded?.stop();
    await nginx?.stop();
    await tmp?.cleanup();
  });

  it('sends a plain http:// download to the proxy as an absolute-form GET, not through CONNECT (which it allows only to 443)', async () => {
    const dir = await fresh();
    const run = await runCli(['download', file(), '--dir', dir, '--retry-delays', ''], { env: { HTTP_PROXY: open.url } });
    expect(run.code).toBe(0);
    expect((await readFile(join(dir, 'p.bin'))).equals(body)).toBe(true);
    expect(await open.log()).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/files\/p\.bin/);
    expect(await open.log()).not.toMatch(/CONNECT 127/);
  });

  it('reports a proxy that refuses the CONNECT tunnel (403) as a proxy failure, exit 1, not as interrupted', async () => {
    const run = await runCli(['download', `${nginx.tlsOrigin}/files/p.bin`, '--dir', await fresh(), '--cacert', cert.cert, '--retry-delays', '0.05'], {
      env: { HTTPS_PROXY: open.url },
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`\\[proxy\\] proxy ${open.url} refused to connect to 127\\.0\\.0\\.1:\\d+ \\(HTTP 403\\)`));
    expect(run.stderr).not.toMatch(/interrupted/);
  });

  it('keeps a batch going past a refusing proxy: the other files are fetched, the exit is 1', async () => {
    const dir = await fresh();
    await writeFile(
      join(dir, 'history.csv'),
      `timestamp,model_type,url,filename\n,lora,${nginx.tlsOrigin}/files/p.bin,tls.bin\n,lora,${file()},plain.bin\n`,
    );
    await writeFile(join(dir, 'dlr.config.json'), JSON.stringify({ download_paths: { lora: 'lora' }, ca_file: cert.cert }));
    const run = await runCli(['redownload', 'all', '--history', 'history.csv', '--sleep', '0', '--retry-delays', '', '--yes'], {
      cwd: dir,
      env: { HTTPS_PROXY: open.url, HTTP_PROXY: open.url },
    });
    expect(run.code).toBe(1);
    expect((await readFile(join(dir, 'lora', 'plain.bin'))).equals(body)).toBe(true);
    const failures = await readFile(join(dir, 'failures.csv'), 'utf8');
    expect(failures).toMatch(/tls\.bin,proxy,/);
  });

  it('says a proxy wants credentials (407), and gets the file with them in the proxy URL, never leaking them', async () => {
    const denied = await runCli(['download', file(), '--dir', await fresh(), '--retry-delays', '0.05'], { env: { HTTP_PROXY: guarded.url } });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/\[proxy\] proxy http:\/\/127\.0\.0\.1:\d+ wants credentials \(407\)/);
    const withCredentials = guarded.url.replace('http://', 'http://dlruser:s3cret-pw@');
    const dir = await fresh();
    const allowed = await runCli(['download', file(), '--dir', dir, '--retry-delays', ''], { env: { HTTP_PROXY: withCredentials } });
    expect(allowed.code).toBe(0);
    expect((await readFile(join(dir, 'p.bin'))).equals(body)).toBe(true);
    expect(allowed.stderr + allowed.stdout).not.toMatch(/s3cret/);
  });

  it('tunnels an https download through CONNECT when the proxy allows the port, byte-exact with backpressure inside the tunnel', async () => {
    const tlsPort = new URL(nginx.tlsOrigin!).port;
    const tunnel = await startTinyproxy(TINYPROXY!, join(tmp.path, 'tp-tunnel'), `ConnectPort ${tlsPort}`);
    try {
      const big = randomBytes(8 * 1024 * 1024);
      await writeFile(join(nginx.root, 'files', 'big.bin'), big);
      const dir = await fresh();
      const run = await runCli(['download', `${nginx.tlsOrigin}/files/big.bin`, '--dir', dir, '--cacert', cert.cert, '--retry-delays', ''], {
        env: { HTTPS_PROXY: tunnel.url },
        timeoutMs: 60_000,
      });
      expect(run.code, run.stderr).toBe(0);
      expect((await readFile(join(dir, 'big.bin'))).equals(big)).toBe(true);
      expect(await tunnel.log()).toMatch(/CONNECT 127\.0\.0\.1:\d+/);
    } finally {
      await tunnel.stop();
    }
  });

  it('names a proxy that cannot be reached', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const run = await runCli(['download', file(), '--dir', await fresh(), '--retry-delays', ''], { env: { HTTP_PROXY: dead } });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`\\[proxy\\] proxy ${dead} cannot be reached: connection refused`));
  });

  it('goes direct for NO_PROXY=127.0.0.0/8 (CIDR), and through the proxy for NO_PROXY=.0.0.1 (not an IP match), as curl', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const direct = await runCli(['download', file(), '--dir', await fresh(), '--retry-delays', ''], { env: { HTTP_PROXY: dead, NO_PROXY: 'example.com,127.0.0.0/8' } });
    expect(direct.code).toBe(0);
    const proxied = await runCli(['download', file(), '--dir', await fresh(), '--retry-delays', ''], { env: { HTTP_PROXY: dead, NO_PROXY: '.0.0.1' } });
    expect(proxied.code).toBe(1);
    expect(proxied.stderr).toMatch(/\[proxy\] proxy .* cannot be reached/);
  });
});
