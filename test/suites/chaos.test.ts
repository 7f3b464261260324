import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, type Fault } from '../../fixtures/server/fault-server.js';
import { makeBatchEnv, type BatchEnv } from '../helpers/batch-env.js';
import { runCli } from '../helpers/cli.js';
import { mulberry32 } from '../helpers/random.js';

/**
 * The promise: a file dlr calls done is byte-for-byte the right file. A
 * seeded run of the built CLI over 30+ files (a few KiB up to 256 MiB)
 * against a server that faults on most requests: 429/503 with and without
 * Retry-After, resets at random offsets, trickles under the speed floor,
 * Range ignored, content replaced mid-way (new ETag), short bodies, slow
 * headers, stalls. Every file ends byte-exact, or in the failures CSV with a
 * code that fits what the server did: no corrupt file, no stray part, no
 * lost row. DLR_CHAOS_SEED replays a run; DLR_CHAOS_SOAK=1 runs a longer one.
 */
const SEED = Number(process.env.DLR_CHAOS_SEED ?? 424242);
const SOAK = process.env.DLR_CHAOS_SOAK === '1';
const MiB = 1 << 20;
const SIZES = [256 * MiB, 64 * MiB, 32 * MiB, 8 * MiB, 8 * MiB, 4 * MiB, 2 * MiB, 2 * MiB, 1 * MiB, ...Array.from({ length: SOAK ? 91 : 23 }, (_, i) => 3_000 + i * 37_123)];
const TYPES = ['checkpoint', 'lora', 'embedding', 'other'] as const;
const NEVER = [
  { path: '/never/429', name: 'never-429.bin', fault: { kind: 'status', status: 429 } as Fault, code: 'rate-limited' },
  { path: '/never/reset', name: 'never-reset.bin', fault: { kind: 'reset-after', bytes: 0 } as Fault, code: 'network' },
];
/** What a file that never got through may legitimately end as. */
const GIVE_UP_CODES = new Set(['rate-limited', 'network', 'timeout', 'server-error', 'invalid-response']);

interface ServedFile {
  readonly path: string;
  readonly name: string;
  readonly type: (typeof TYPES)[number];
  body: Buffer;
}

let w: BatchEnv;
const served: ServedFile[] = [];
const injected = new Map<string, number>();

beforeAll(async () => {
  w = await makeBatchEnv();
  const random = mulberry32(SEED);
  SIZES.forEach((size, i) => {
    const file: ServedFile = { path: `/f/${i}`, name: `file-${i}.bin`, type: TYPES[i % TYPES.length]!, body: randomBytes(size) };
    served.push(file);
    w.server.setFile(file.path, { body: file.body });
  });
  // Two files whose server never relents, each with the one code it must end as.
  for (const never of NEVER) {
    const file: ServedFile = { path: never.path, name: never.name, type: 'lora', body: randomBytes(100_000) };
    served.push(file);
    w.server.setFile(file.path, { body: file.body });
  }
  const byPath = new Map(served.map((f) => [f.path, f]));
  w.server.pickFaults((path) => {
    const never = NEVER.find((n) => n.path === path);
    if (never) return never.fault;
    const file = byPath.get(path);
    if (!file || random() < 0.35) return undefined;
    const size = file.body.length;
    const at = () => Math.floor(random() * size);
    const choices: Array<() => Fault | undefined> = [
      () => ({ kind: 'status', status: 429 }),
      () => ({ kind: 'status', status: 429, retryAfter: '0' }),
      () => ({ kind: 'status', status: 503, retryAfter: 'Wed, 21 Oct 2015 07:28:00 GMT' }),
      () => ({ kind: 'status', status: 503 }),
      () => ({ kind: 'reset-after', bytes: at() }),
      () => ({ kind: 'short-body', bytes: at() }),
      () => ({ kind: 'trickle', bytesPerSec: 2_000, afterBytes: at() }),
      () => ({ kind: 'ignore-range' }),
      () => ({ kind: 'delay-headers', ms: 50 + Math.floor(random() * 200) }),
      () => ({ kind: 'stall', afterBytes: at() }),
      () => {
        // The file changes on the server (a re-upload): a new body and ETag from now on.
        file.body = randomBytes(size);
        w.server.setFile(path, { body: file.body });
        injected.set('content-replaced', (injected.get('content-replaced') ?? 0) + 1);
        return { kind: 'reset-after', bytes: at() };
      },
    ];
    const fault = choices[Math.floor(random() * choices.length)]!();
    const label = fault ? (fault.kind === 'status' ? `${fault.status}${fault.retryAfter ? '+retry-after' : ''}` : fault.kind) : 'none';
    injected.set(label, (injected.get(label) ?? 0) + 1);
    return fault;
  });
  await w.writeHistory(served.map((f) => [f.type, f.path, f.name] as const));
}, 60_000);

afterAll(async () => {
  await w?.cleanup();
});

describe('chaos suite', () => {
  it(`ends every one of ${SIZES.length} files byte-exact or in the failures CSV with a fitting code (seed ${SEED})`, async () => {
    const run = await runCli(
      ['redownload', 'all', '--retry-delays', '0.01,0.01,0.02,0.02,0.05,0.05', '--speed-floor', '64KiB', '--speed-window', '0.3', '--timeout', '1', '--summary-json', 'summary.json'],
      { cwd: w.root, env: w.env, timeoutMs: 240_000 },
    );
    expect([0, 1], run.stderr.slice(-3000)).toContain(run.code);
    expect(run.stderr).not.toMatch(/internal error|\n\s+at /);

    const failures = run.code === 1 ? (parse(await readFile(join(w.root, 'failures.csv'), 'utf8'), { columns: true }) as Array<Record<string, string>>) : [];
    const failedByName = new Map(failures.map((r) => [r.filename, r.error_code]));
    let exact = 0;
    for (const file of served) {
      const dir = w.dirOf(file.type);
      const names = await readdir(dir);
      const code = failedByName.get(file.name);
      if (code === undefined) {
        // Done: the final file is the server's current version, and nothing else is left beside it.
        expect(sha256(await readFile(join(dir, file.name))), file.name).toBe(sha256(file.body));
        expect(names.filter((n) => n.startsWith(`${file.name}.`)), file.name).toEqual([]);
        exact++;
      } else {
        // Failed: listed with a code that fits, and no final file claims to be it.
        expect(GIVE_UP_CODES, `${file.name}: ${code}`).toContain(code);
        expect(names, file.name).not.toContain(file.name);
      }
    }
    for (const never of NEVER) expect(failedByName.get(never.name), never.name).toBe(never.code);
    // No lost row: every file is either done or listed.
    expect(exact + failures.length).toBe(served.length);

    const summary = JSON.parse(await readFile(join(w.root, 'summary.json'), 'utf8'));
    const fileBytes = served.reduce((n, f) => n + f.body.length, 0);
    const sent = w.server.requests.reduce((n, r) => n + r.bytesSent, 0);
    const faults = [...injected.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`);
    console.log(
      `chaos: seed ${SEED}, ${served.length} files (${(fileBytes / MiB).toFixed(0)} MiB), ${exact} byte-exact, ${failures.length} failed ` +
        `(${[...failedByName.values()].join(', ') || 'none'}); ${w.server.requests.length} requests, faults injected: ${faults.join(', ')}; ` +
        `retries ${summary.retries.total}; bytes fetched ${(summary.bytes / MiB).toFixed(1)} MiB, sent ${(sent / MiB).toFixed(1)} MiB, for ${(fileBytes / MiB).toFixed(1)} MiB of files`,
    );
    // Most files must get through, or the suite proves nothing.
    expect(exact).toBeGreaterThanOrEqual(Math.floor(served.length * 0.8));
  }, 300_000);
});
