import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, signalWhenPartHasBytes } from '../helpers/cli.js';
import { makeCertificate, requireBinary, startNginx, type Nginx } from '../helpers/real-servers.js';
import { makeTempDir } from '../helpers/temp-dir.js';

// dlr against a real nginx on loopback: sendfile at full speed, limit_rate
// against the speed floor, limit_req answering 429, big headers, TLS, a file
// replaced between runs. Skipped without nginx, except in CI.

const NGINX = requireBinary('nginx', 'the real-server (nginx) tests');

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Writes `mib` MiB of a repeated random MiB; returns its sha256. */
async function writeFile1MiBPattern(path: string, mib: number, seed = randomBytes(1024 * 1024)): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(path, 'w');
  try {
    for (let i = 0; i < mib; i++) {
      await handle.write(seed);
      hash.update(seed);
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/** Peak resident memory of a child, read from /proc while it runs (VmHWM). */
function watchPeakRss(pid: number): { peakKiB: () => number; stop: () => void } {
  let peak = 0;
  const timer = setInterval(() => {
    void readFile(`/proc/${pid}/status`, 'utf8').then(
      (status) => {
        const kib = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
        if (kib > peak) peak = kib;
      },
      () => undefined,
    );
  }, 20);
  return { peakKiB: () => peak, stop: () => clearInterval(timer) };
}

// Directives nginx reads from a config token are capped at 4 KiB each: a big header is many lines.
const bigHeaders = (count: number) => Array.from({ length: count }, (_, i) => `add_header X-Big-${i} "${'b'.repeat(3000)}" always;`).join('\n');

describe.skipIf(NGINX === undefined)('against nginx', () => {
  let nginx: Nginx;
  let tmp: { path: string; cleanup: () => Promise<void> };
  let work: string;
  let n = 0;
  const cert: { cert: string; key: string } = { cert: '', key: '' };
  const fresh = async () => {
    const dir = join(work, `run-${++n}`);
    await mkdir(dir, { recursive: true });
    return dir;
  };

  beforeAll(async () => {
    tmp = await makeTempDir('dlr-nginx-');
    work = join(tmp.path, 'work');
    await mkdir(work);
    Object.assign(cert, makeCertificate(tmp.path, 'loopback', 'IP:127.0.0.1'));
    nginx = await startNginx(NGINX!, join(tmp.path, 'nginx'), {
      tls: cert,
      http: 'limit_req_zone $binary_remote_addr zone=strict:1m rate=1r/s;',
      locations: `
        location /slow/ { limit_rate_after 256k; limit_rate 16k; }
        location /throttled/ { limit_rate 256k; }
        location /strict/ {
          limit_req zone=strict nodelay;
          limit_req_status 429;
          error_page 429 = @toofast;
        }
        location @toofast { add_header Retry-After 1 always; return 429 "slow down\\n"; }
        location = /go { return 302 /files/small.bin; }
        location = /later { add_header Retry-After "Thu, 01 Jan 2037 00:00:00 GMT" always; return 503; }
        location /big-headers/ { ${bigHeaders(8)} }
        location /huge-headers/ { ${bigHeaders(40)} }
      `,
    });
    for (const dir of ['files', 'slow', 'throttled', 'strict', 'big-headers', 'huge-headers']) await mkdir(join(nginx.root, dir));
    await writeFile(join(nginx.root, 'files', 'small.bin'), randomBytes(200_000));
  }, 60_000);

  afterAll(async () => {
    await nginx?.stop();
    await tmp?.cleanup();
  });

  it('downloads 64 MiB from sendfile at full speed, fresh, every time (no unread-buffer cap to trip)', async () => {
    const sum = await writeFile1MiBPattern(join(nginx.root, 'files', 'f64.bin'), 64);
    const dir = await fresh();
    for (let round = 0; round < 3; round++) {
      const run = await runCli(['download', `${nginx.origin}/files/f64.bin`, '--dir', dir, '--retry-delays', '', '--force'], { timeoutMs: 60_000 });
      expect(run.stderr).not.toMatch(/faster than it was read/);
      expect(run.code).toBe(0);
      expect(await sha256File(join(dir, 'f64.bin'))).toBe(sum);
    }
  }, 120_000);

  it('downloads 1 GiB from a server that sends faster than dlr writes, byte-exact, with flat memory', async () => {
    const sum = await writeFile1MiBPattern(join(nginx.root, 'files', 'f1g.bin'), 1024);
    const dir = await fresh();
    let rss: ReturnType<typeof watchPeakRss> | undefined;
    const run = await runCli(['download', `${nginx.origin}/files/f1g.bin`, '--dir', dir, '--retry-delays', ''], {
      timeoutMs: 120_000,
      onSpawn: (child) => {
        rss = watchPeakRss(child.pid!);
      },
    });
    rss?.stop();
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/done/);
    expect((await stat(join(dir, 'f1g.bin'))).size).toBe(1024 * 1024 * 1024);
    expect(await sha256File(join(dir, 'f1g.bin'))).toBe(sum);
    // The single-stream budget is under 100 MiB (README); allow for the sampling and Node versions.
    expect(rss!.peakKiB()).toBeGreaterThan(0);
    expect(rss!.peakKiB() / 1024).toBeLessThan(130);
  }, 180_000);

  it('gets a file through limit_rate_after/limit_rate by resuming each time the speed floor trips', async () => {
    // Each answer is fast for 256 KiB, then 16 KiB/s, under a 64 KiB/s floor over 1 s.
    const data = randomBytes(1024 * 1024 + 12_345);
    await writeFile(join(nginx.root, 'slow', 'floor.bin'), data);
    const dir = await fresh();
    const run = await runCli(
      ['download', `${nginx.origin}/slow/floor.bin`, '--dir', dir, '--retry-delays', '0.05,0.05,0.05,0.05,0.05,0.05,0.05', '--speed-floor', '64KiB', '--speed-window', '1'],
      { timeoutMs: 60_000 },
    );
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/rate-limited/);
    expect((await readFile(join(dir, 'floor.bin'))).equals(data)).toBe(true);
    const ranged = (await nginx.accessLog()).filter((l) => l.includes('/slow/floor.bin') && / 206 /.test(l));
    expect(ranged.length).toBeGreaterThanOrEqual(3);
  }, 90_000);

  it('waits out limit_req 429s with their Retry-After and gets every file', async () => {
    const dir = await fresh();
    const rows = ['timestamp,model_type,url,filename'];
    const sums: string[] = [];
    for (let i = 0; i < 4; i++) {
      const body = randomBytes(10_000 + i);
      await writeFile(join(nginx.root, 'strict', `s${i}.bin`), body);
      sums.push(createHash('sha256').update(body).digest('hex'));
      rows.push(`,lora,${nginx.origin}/strict/s${i}.bin,s${i}.bin`);
    }
    await writeFile(join(dir, 'history.csv'), `${rows.join('\n')}\n`);
    await writeFile(join(dir, 'dlr.config.json'), JSON.stringify({ download_paths: { lora: 'lora' } }));
    const run = await runCli(['redownload', 'all', '--history', 'history.csv', '--sleep', '0', '--retry-delays', '0.05,0.05,0.05', '--yes'], {
      cwd: dir,
      timeoutMs: 60_000,
    });
    expect(run.code).toBe(0);
    for (let i = 0; i < 4; i++) expect(createHash('sha256').update(await readFile(join(dir, 'lora', `s${i}.bin`))).digest('hex')).toBe(sums[i]);
    const log = (await nginx.accessLog()).filter((l) => l.includes(' /strict/')).map((l) => l.split(' '));
    const rejected = log.filter((f) => f[3] === '429');
    expect(rejected.length).toBeGreaterThan(0);
    // After a 429, nothing new was sent to nginx before its Retry-After (1 s; nginx logs ms) had passed:
    // the whole origin pauses, not only the file that got it. (Requests already on their way when
    // the 429 left, the other files of the same moment at -j 4, may still arrive just after it.)
    for (const f of rejected) {
      const t = Number(f[0]);
      const early = log.filter((g) => Number(g[0]) > t + 0.15 && Number(g[0]) < t + 0.95);
      expect(early, `requests within Retry-After of the 429 at ${t}: ${log.map((g) => g.slice(0, 5).join(' ')).join(' | ')}`).toEqual([]);
    }
  }, 90_000);

  it('fetches the new version whole when the file was replaced between runs (never a splice)', async () => {
    const path = join(nginx.root, 'throttled', 'model.bin');
    const v1 = randomBytes(2 * 1024 * 1024);
    await writeFile(path, v1);
    const dir = await fresh();
    const url = `${nginx.origin}/throttled/model.bin`;
    const first = await runCli(['download', url, '--dir', dir, '--retry-delays', ''], {
      timeoutMs: 30_000,
      onSpawn: signalWhenPartHasBytes(join(dir, 'model.bin.part'), 'SIGTERM'),
    });
    expect([130, 143]).toContain(first.code);
    expect((await stat(join(dir, 'model.bin.part'))).size).toBeGreaterThan(0);
    // A new version: new bytes, new mtime, so nginx's ETag and Last-Modified change.
    const v2 = randomBytes(1024 * 1024 + 7);
    await writeFile(path, v2);
    const later = new Date(Date.now() + 5_000);
    await utimes(path, later, later);
    const second = await runCli(['download', url, '--dir', dir, '--retry-delays', ''], { timeoutMs: 60_000 });
    expect(second.code).toBe(0);
    expect((await readFile(join(dir, 'model.bin'))).equals(v2)).toBe(true);
    const lines = (await nginx.accessLog()).filter((l) => l.includes('/throttled/model.bin'));
    // The resume asked for a range with If-Range; nginx answered the whole new file.
    expect(lines.at(-1)).toMatch(/ 200 .*"bytes=\d+-"$/);
  }, 90_000);

  it('accepts response headers over 16 KiB, and refuses past 100 KiB without retrying', async () => {
    await writeFile(join(nginx.root, 'big-headers', 'h.bin'), randomBytes(1000));
    await writeFile(join(nginx.root, 'huge-headers', 'h.bin'), randomBytes(1000));
    const dir = await fresh();
    const ok = await runCli(['download', `${nginx.origin}/big-headers/h.bin`, '--dir', dir, '--retry-delays', '0.05']);
    expect(ok.code).toBe(0);
    const huge = await runCli(['download', `${nginx.origin}/huge-headers/h.bin`, '--dir', dir, '--retry-delays', '0.05,0.05']);
    expect(huge.code).toBe(1);
    expect(huge.stderr).toMatch(/\[invalid-response\] the response headers are larger than dlr accepts \(100 KiB/);
    expect(huge.stderr).not.toMatch(/retry/);
  });

  it('follows a redirect to the same origin on the connection it already has', async () => {
    const dir = await fresh();
    const before = (await nginx.accessLog()).length;
    const run = await runCli(['download', `${nginx.origin}/go`, '--dir', dir]);
    expect(run.code).toBe(0);
    const lines = (await nginx.accessLog()).slice(before);
    expect(lines.map((l) => l.split(' ')[3])).toEqual(['302', '200']);
    // $connection is the same serial number: one TCP connection for both.
    expect(lines[1]!.split(' ')[1]).toBe(lines[0]!.split(' ')[1]);
    expect(lines[1]!.split(' ')[2]).toBe('2');
  });

  it('reports a Retry-After date in 2037 as years away, not as a clamped timer', async () => {
    const run = await runCli(['download', `${nginx.origin}/later`, '--dir', await fresh(), '--retry-delays', '1']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/wait 10 years, more than the 15 min limit/);
    expect(run.stderr).not.toMatch(/2147484/);
  });

  describe('TLS', () => {
    it('names an untrusted certificate in one line with its own code, no OpenSSL noise, and no retries', async () => {
      const run = await runCli(['download', `${nginx.tlsOrigin}/files/small.bin`, '--dir', await fresh(), '--retry-delays', '0.05']);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/\[tls\] TLS: the server's certificate is not trusted \(self-signed\); to trust a private CA, pass --cacert FILE/);
      expect(run.stderr).not.toMatch(/SSL routines|internal|retry/);
    });

    it('trusts a private CA given with --cacert, with the config key ca_file, or with NODE_EXTRA_CA_CERTS', async () => {
      const url = `${nginx.tlsOrigin}/files/small.bin`;
      const viaFlag = await runCli(['download', url, '--dir', await fresh(), '--cacert', cert.cert]);
      expect(viaFlag.code).toBe(0);
      const dir = await fresh();
      await writeFile(join(dir, 'dlr.config.json'), JSON.stringify({ ca_file: cert.cert }));
      const viaConfig = await runCli(['download', url, '--dir', dir], { cwd: dir });
      expect(viaConfig.code).toBe(0);
      const viaEnv = await runCli(['download', url, '--dir', await fresh()], { env: { NODE_EXTRA_CA_CERTS: cert.cert } });
      expect(viaEnv.code).toBe(0);
    });

    it('says the certificate is for another name', async () => {
      const url = `${nginx.tlsOrigin!.replace('127.0.0.1', 'localhost')}/files/small.bin`;
      const run = await runCli(['download', url, '--dir', await fresh(), '--cacert', cert.cert]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/\[tls\] TLS: the certificate is not valid for localhost/);
    });

    it('says the server does not speak TLS when an https URL points at a plain HTTP port', async () => {
      const url = `${nginx.origin.replace('http:', 'https:')}/files/small.bin`;
      const run = await runCli(['download', url, '--dir', await fresh(), '--retry-delays', '0.05']);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/\[tls\] TLS: the server did not answer in TLS/);
      expect(run.stderr).not.toMatch(/SSL routines/);
    });

    it('refuses a --cacert file that holds no certificate, as a usage error', async () => {
      const bogus = join(await fresh(), 'not-a-ca.pem');
      await writeFile(bogus, 'hello\n');
      const run = await runCli(['download', `${nginx.tlsOrigin}/files/small.bin`, '--dir', await fresh(), '--cacert', bogus]);
      expect(run.code).toBe(2);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      expect(run.stderr).toMatch(/--cacert: .* holds no PEM certificate/);
    });
  });
});
