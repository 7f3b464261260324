import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeBytes, sha256, type FaultServer } from '../../fixtures/server/fault-server.js';
import { makeBatchEnv, type BatchEnv } from '../helpers/batch-env.js';
import { runCli } from '../helpers/cli.js';
import { mulberry32 } from '../helpers/random.js';

/**
 * The promise: a run cut off at any moment loses nothing and resumes.
 * dlr is SIGKILLed (no cleanup at all) at seeded random moments — mid-body,
 * between files, during the pause — and run again each time. After every
 * kill, no final file may be wrong; at the end every file is byte-exact, the
 * server saw Range requests past zero, and the bytes it sent stay within the
 * files' sizes plus what a kill can lose (dlr's write buffer and socket slack).
 */
const SEED = Number(process.env.DLR_CRASH_SEED ?? 20261124);
const KILLS = Number(process.env.DLR_CRASH_KILLS ?? 14);
/** dlr's 64 KiB write batch plus what sits in socket buffers at a kill (with room to spare). */
const LOSS_PER_KILL = (1 << 20) + (512 << 10);

const files = [
  { path: '/c1', type: 'checkpoint', name: 'big.safetensors', body: makeBytes(6 << 20, 101) },
  { path: '/l1', type: 'lora', name: 'mid.safetensors', body: makeBytes(3 << 20, 102) },
  { path: '/l2', type: 'lora', name: 'small.safetensors', body: makeBytes(700 << 10, 103) },
  { path: '/e1', type: 'embedding', name: 'tiny.pt', body: makeBytes(40 << 10, 104) },
];

let w: BatchEnv;
let server: FaultServer;

beforeAll(async () => {
  w = await makeBatchEnv();
  server = w.server;
  for (const f of files) server.setFile(f.path, { body: f.body, bytesPerSec: 1 << 20 });
  await w.writeHistory(files.map((f) => [f.type, f.path, f.name] as const));
});

afterAll(async () => {
  await w.cleanup();
});

const finalPath = (f: (typeof files)[number]) => join(w.dirOf(f.type as 'checkpoint' | 'lora' | 'embedding'), f.name);

/** Every final file that exists is complete and right; every part has its sidecar. */
async function checkInvariants(): Promise<void> {
  for (const f of files) {
    const final = await readFile(finalPath(f)).catch(() => undefined);
    if (final !== undefined) expect(sha256(final), `${f.name} is complete or absent`).toBe(sha256(f.body));
    const part = await stat(`${finalPath(f)}.part`).catch(() => undefined);
    if (part !== undefined && part.size > 0) {
      const sidecar = await stat(`${finalPath(f)}.part.json`).catch(() => undefined);
      expect(sidecar, `${f.name}.part has a sidecar`).toBeDefined();
    }
  }
}

describe('crash-resume suite', () => {
  it(`survives ${KILLS} SIGKILLs at random moments and ends byte-exact`, async () => {
    const random = mulberry32(SEED);
    // One file at a time (the seed's plan): the bound on bytes re-sent per kill is per transfer.
    const args = ['redownload', 'all', '--sleep', '0.15', '--jobs', '1'];
    let kills = 0;
    for (let k = 0; k < KILLS; k++) {
      // Every third kill waits for the pause between files; the others land at a random time.
      const inPause = k % 3 === 2;
      const delayMs = 300 + Math.floor(random() * 800);
      const run = await runCli(args, {
        cwd: w.root,
        env: w.env,
        onSpawn: (child) => {
          if (inPause) {
            let seen = '';
            child.stderr?.on('data', (d: Buffer) => {
              seen += d.toString();
              if (/ pause /.test(seen) && !child.killed) child.kill('SIGKILL');
            });
          }
          const timer = setTimeout(() => !child.killed && child.kill('SIGKILL'), inPause ? 2_000 : delayMs);
          child.on('close', () => clearTimeout(timer));
        },
      });
      if (run.signal === 'SIGKILL') kills++;
      await checkInvariants();
    }
    const last = await runCli(args, { cwd: w.root, env: w.env });
    expect(last.code, last.stderr).toBe(0);
    for (const f of files) expect(sha256(await readFile(finalPath(f)))).toBe(sha256(f.body));
    // Nothing is left beside the finished files: no parts, sidecars or locks.
    for (const dir of ['checkpoint', 'lora', 'embedding'] as const) {
      expect((await readdir(w.dirOf(dir))).filter((n) => /\.part|\.lock|\.tmp/.test(n))).toEqual([]);
    }

    const resumed = server.requests.filter((r) => /^bytes=[1-9]\d*-$/.test(String(r.headers.range ?? '')));
    const sent = server.requests.reduce((n, r) => n + r.bytesSent, 0);
    const total = files.reduce((n, f) => n + f.body.length, 0);
    console.log(
      `crash-resume: seed ${SEED}, ${kills} kills, ${server.requests.length} requests, ${resumed.length} resumed with Range, ` +
        `${sent} bytes sent for ${total} bytes of files (+${sent - total})`,
    );
    expect(kills).toBeGreaterThanOrEqual(Math.min(10, KILLS));
    // Most kills must have cut a body short, and each such part was resumed, not refetched.
    const cutShort = server.requests.filter((r) => r.bytesSent > 0 && r.bytesSent < (files.find((f) => f.path === r.path)?.body.length ?? 0) - Number(/^bytes=(\d+)/.exec(String(r.headers.range ?? ''))?.[1] ?? 0));
    expect(cutShort.length).toBeGreaterThanOrEqual(5);
    expect(resumed.length).toBeGreaterThanOrEqual(cutShort.length - 1);
    expect(sent).toBeLessThanOrEqual(total + kills * LOSS_PER_KILL);
  }, 120_000);

  it('completes a part left complete by a kill between fsync and rename, without fetching it again', async () => {
    const f = files[0]!;
    // The state such a kill leaves: the final name absent, the part complete and described.
    await rm(finalPath(f));
    await writeFile(`${finalPath(f)}.part`, f.body);
    await writeFile(`${finalPath(f)}.part.json`, JSON.stringify({ version: 1, url: server.url(f.path), etag: `"${sha256(f.body).slice(0, 32)}"`, total: f.body.length }));
    server.requests.length = 0;
    const run = await runCli(['redownload', server.url(f.path)], { cwd: w.root, env: w.env });
    expect(run.code, run.stderr).toBe(0);
    expect(server.requests.map((r) => [r.headers.range, r.bytesSent])).toEqual([[`bytes=${f.body.length}-`, 0]]);
    expect(sha256(await readFile(finalPath(f)))).toBe(sha256(f.body));
  });
});
