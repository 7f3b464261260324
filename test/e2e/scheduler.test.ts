import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeBytes, sha256 } from '../../fixtures/server/fault-server.js';
import { makeBatchEnv, type BatchEnv } from '../helpers/batch-env.js';
import { runCli } from '../helpers/cli.js';
import { fileSha } from '../helpers/engine.js';

// The scheduler and the origin limiter end to end: the built CLI against the
// fault server acting as a strict upstream.

let w: BatchEnv;

beforeEach(async () => {
  w = await makeBatchEnv({ retry_delays: [0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01] });
});

afterEach(async () => {
  await w.cleanup();
});

const dlr = (args: string[], extra: Parameters<typeof runCli>[1] = {}) => runCli(args, { cwd: w.root, env: w.env, timeoutMs: 60_000, ...extra });

/** `n` LoRA files of `size` bytes in the history; returns their bodies by name. */
async function loras(n: number, size: number, type = 'lora'): Promise<Map<string, Buffer>> {
  const bodies = new Map<string, Buffer>();
  const rows: Array<[string, string, string]> = [];
  for (let i = 0; i < n; i++) {
    const name = `f${String(i).padStart(3, '0')}.safetensors`;
    const body = makeBytes(size, i + 1);
    w.server.setFile(`/${name}`, { body });
    bodies.set(name, body);
    rows.push([type, `/${name}`, name]);
  }
  await w.writeHistory(rows);
  return bodies;
}

async function setBudget(budget: Record<string, number>): Promise<void> {
  const config = JSON.parse(await readFile(join(w.root, 'dlr.config.json'), 'utf8')) as Record<string, unknown>;
  config.origins = { [w.server.origin]: budget };
  await writeFile(join(w.root, 'dlr.config.json'), JSON.stringify(config));
}

const fileRequests = () => w.server.requests.filter((r) => r.path.endsWith('.safetensors'));

/**
 * The most file requests in flight at once, as the server saw them. The
 * server's response ends a little after dlr has the last byte (its send
 * timers), so a request counts as ended `slackMs` before the server says.
 */
function maxInFlight(slackMs = 60): number {
  const reqs = fileRequests();
  let most = 0;
  for (const r of reqs) {
    const overlapping = reqs.filter((o) => o.at <= r.at && (o.endedAt ?? Number.POSITIVE_INFINITY) - slackMs > r.at).length;
    most = Math.max(most, overlapping);
  }
  return most;
}

describe('the origin limiter against a strict upstream', () => {
  it('with the budget configured, a 40-file batch at -j 4 gets zero 429s and every file byte-exact', async () => {
    w.server.rateLimit({ perSecond: 20, burst: 4, retryAfterSec: 1 });
    // 10 a second after a burst of 2: half the server's 20 a second and burst of 4, so
    // sends the event loop delays (a file's fsync) and that then go together still fit.
    await setBudget({ requests_per_minute: 600, burst: 2 });
    const bodies = await loras(40, 20_000);
    const run = await dlr(['redownload', 'all', '-j', '4']);
    expect(run.code, run.stderr).toBe(0);
    expect(w.server.requests.filter((r) => r.status === 429)).toEqual([]);
    for (const [name, body] of bodies) expect(await fileSha(join(w.dirOf('lora'), name))).toBe(sha256(body));
    expect(run.stderr).toMatch(/origin {4}http:\/\/127\.0\.0\.1:\d+: 40 requests/);
  });

  it('without a budget, pauses the whole origin after a 429 until its Retry-After has passed, and still gets every file', async () => {
    w.server.rateLimit({ perSecond: 5, burst: 3, retryAfterSec: 1 });
    const bodies = await loras(12, 10_000);
    const run = await dlr(['redownload', 'all', '-j', '4', '--summary-json', 's.json']);
    expect(run.code, run.stderr).toBe(0);
    const refused = w.server.requests.filter((r) => r.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    // After the first 429 reached dlr, nothing new was sent there before Retry-After passed
    // (a request already on its way when the 429 left the server may still arrive just after it).
    const first = refused[0]!;
    const early = w.server.requests.filter((r) => r.at > first.at + 150 && r.at < first.at + 950);
    expect(early).toEqual([]);
    expect(run.stderr).toMatch(/pause http:\/\/127\.0\.0\.1:\d+ for 1\.0s: HTTP 429/);
    for (const [name, body] of bodies) expect(await fileSha(join(w.dirOf('lora'), name))).toBe(sha256(body));
    const summary = JSON.parse(await readFile(join(w.root, 's.json'), 'utf8'));
    expect(summary.origins[0]).toMatchObject({ origin: w.server.origin, throttled: { 429: refused.length } });
    expect(summary.origins[0].waitedMs).toBeGreaterThan(900);
    // The learned rate is kept for the next run.
    const state = JSON.parse(await readFile(join(w.root, '.dlr-state.json'), 'utf8'));
    expect(state.origins[w.server.origin].requests_per_minute).toBeGreaterThan(0);
  });
});

describe('the scheduler', () => {
  it('never has more than -j transfers in flight, and fills them', async () => {
    await loras(9, 60_000);
    for (let i = 0; i < 9; i++) w.server.setFile(`/f00${i}.safetensors`, { body: makeBytes(60_000, i + 1), bytesPerSec: 200_000 });
    const run = await dlr(['redownload', 'all', '-j', '3']);
    expect(run.code, run.stderr).toBe(0);
    expect(maxInFlight()).toBe(3);
  });

  it('runs strictly one after another with -j 1', async () => {
    await loras(5, 30_000);
    for (let i = 0; i < 5; i++) w.server.setFile(`/f00${i}.safetensors`, { body: makeBytes(30_000, i + 1), bytesPerSec: 300_000 });
    const run = await dlr(['redownload', 'all', '-j', '1']);
    expect(run.code, run.stderr).toBe(0);
    expect(maxInFlight()).toBe(1);
    expect(fileRequests().map((r) => r.path)).toEqual(['/f000.safetensors', '/f001.safetensors', '/f002.safetensors', '/f003.safetensors', '/f004.safetensors']);
  });

  it('never transfers two checkpoints at once by default, while LoRAs fill the other slots', async () => {
    const rows: Array<[string, string, string]> = [];
    for (let i = 0; i < 3; i++) {
      w.server.setFile(`/ckpt${i}.safetensors`, { body: makeBytes(80_000, 10 + i), bytesPerSec: 300_000 });
      rows.push(['checkpoint', `/ckpt${i}.safetensors`, `ckpt${i}.safetensors`]);
    }
    for (let i = 0; i < 3; i++) {
      w.server.setFile(`/lora${i}.safetensors`, { body: makeBytes(40_000, 20 + i), bytesPerSec: 300_000 });
      rows.push(['lora', `/lora${i}.safetensors`, `lora${i}.safetensors`]);
    }
    await w.writeHistory(rows);
    const run = await dlr(['redownload', 'all', '-j', '4']);
    expect(run.code, run.stderr).toBe(0);
    const ckpts = fileRequests().filter((r) => r.path.startsWith('/ckpt'));
    for (const a of ckpts) for (const b of ckpts) if (a !== b) expect(a.at >= b.endedAt! - 60 || b.at >= a.endedAt! - 60).toBe(true);
    // The LoRAs ran beside the first checkpoint.
    const firstCkpt = ckpts[0]!;
    expect(fileRequests().some((r) => r.path.startsWith('/lora') && r.at < firstCkpt.endedAt!)).toBe(true);
  });

  it('lists files in plan order in the failures CSV, whatever failed first', async () => {
    await loras(4, 10_000);
    // The first in plan order fails last (its answer is late), the last fails first.
    w.server.route('/f000.safetensors', (_req, res) => {
      setTimeout(() => res.writeHead(404, { 'content-type': 'text/plain' }).end('gone'), 400);
    });
    w.server.script('/f003.safetensors', { kind: 'status', status: 404 });
    w.server.script('/f001.safetensors', { kind: 'status', status: 404 });
    const run = await dlr(['redownload', 'all', '-j', '4']);
    expect(run.code).toBe(1);
    const csv = (await readFile(join(w.root, 'failures.csv'), 'utf8')).trim().split('\n').slice(1);
    expect(csv.map((l) => /f00\d/.exec(l)?.[0])).toEqual(['f000', 'f001', 'f003']);
  });

  it('on SIGINT with 4 in flight keeps 4 resumable parts, and the next run resumes them byte-exact', async () => {
    const bodies = await loras(4, 400_000);
    for (const [name, body] of bodies) w.server.setFile(`/${name}`, { body, bytesPerSec: 100_000 });
    const parts = [...bodies.keys()].map((name) => join(w.dirOf('lora'), `${name}.part`));
    const first = await dlr(['redownload', 'all', '-j', '4'], {
      onSpawn: (child) => {
        const poll = setInterval(() => {
          void Promise.all(parts.map((p) => stat(p).then((s) => s.size > 0, () => false))).then((ready) => {
            if (ready.every(Boolean)) {
              clearInterval(poll);
              child.kill('SIGINT');
            }
          });
        }, 20);
        child.on('close', () => clearInterval(poll));
      },
    });
    expect(first.code).toBe(130);
    for (const part of parts) {
      expect((await stat(part)).size).toBeGreaterThan(0);
      expect((await stat(`${part}.json`)).size).toBeGreaterThan(0);
    }
    for (const [name, body] of bodies) w.server.setFile(`/${name}`, { body });
    const second = await dlr(['redownload', 'all', '-j', '4']);
    expect(second.code, second.stderr).toBe(0);
    for (const [name, body] of bodies) {
      expect(await fileSha(join(w.dirOf('lora'), name))).toBe(sha256(body));
      expect(w.server.requestsTo(`/${name}`).at(-1)?.headers.range).toMatch(/^bytes=[1-9]\d*-$/);
    }
  });
});

describe('an origin that cannot be reached', () => {
  it('holds its files on one retry schedule and fails them together, while files on other origins carry on', async () => {
    const { freePort } = await import('../helpers/real-servers.js');
    const dead = `http://127.0.0.1:${await freePort()}`;
    const live = makeBytes(30_000, 7);
    w.server.setFile('/live.safetensors', { body: live });
    const rows = ['timestamp,model_type,url,filename'];
    for (let i = 0; i < 5; i++) rows.push(`,lora,${dead}/d${i}.safetensors,d${i}.safetensors`);
    rows.push(`,lora,${w.server.url('/live.safetensors')},live.safetensors`);
    await writeFile(w.historyPath, `${rows.join('\n')}\n`);
    const started = performance.now();
    const run = await dlr(['redownload', 'all', '-j', '2', '--retry-delays', '0.4,0.4']);
    const took = performance.now() - started;
    expect(run.code).toBe(1);
    expect(await fileSha(join(w.dirOf('lora'), 'live.safetensors'))).toBe(sha256(live));
    const csv = await readFile(join(w.root, 'failures.csv'), 'utf8');
    expect(csv.match(/,network,connection refused by 127\.0\.0\.1:\d+: ECONNREFUSED \(origin retried 2 times\)/g)).toHaveLength(5);
    // One schedule for the origin (0.4 + 0.4 s), not one per file (5 x 0.8 s).
    expect(run.stderr.match(/unreachable http:\/\/127\.0\.0\.1:\d+ /g)).toHaveLength(2);
    expect(run.stderr).toMatch(/giving up on http:\/\/127\.0\.0\.1:\d+ \[network\]/);
    expect(took).toBeLessThan(4_000);
  });
});

describe('byte budgets', () => {
  it('--limit-rate caps the whole run, and bytes_per_second caps an origin, across files in flight', async () => {
    const bodies = await loras(4, 1024 * 1024);
    const started = performance.now();
    const run = await dlr(['redownload', 'all', '-j', '4', '--limit-rate', '2MiB']);
    const took = (performance.now() - started) / 1000;
    expect(run.code, run.stderr).toBe(0);
    // 4 MiB at 2 MiB/s, less the quarter second of burst: at least ~1.6 s (unpaced: a few tenths).
    expect(took).toBeGreaterThan(1.5);
    for (const [name, body] of bodies) expect(await fileSha(join(w.dirOf('lora'), name))).toBe(sha256(body));

    await setBudget({ bytes_per_second: 2 * 1024 * 1024 });
    const again = performance.now();
    const second = await dlr(['redownload', 'all', '-j', '4', '--force', '--yes']);
    expect(second.code, second.stderr).toBe(0);
    expect((performance.now() - again) / 1000).toBeGreaterThan(1.5);
  });
});
