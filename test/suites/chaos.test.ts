import { createCipheriv, createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../src/errors.js';
import { sha256, startFaultServer, type Fault, type FaultServer } from '../../fixtures/server/fault-server.js';
import { makeBatchEnv, type BatchEnv } from '../helpers/batch-env.js';
import { runCli } from '../helpers/cli.js';
import { mulberry32 } from '../helpers/random.js';

/**
 * The promise: a file dlr calls done is byte-for-byte the right file. A
 * seeded run of the built CLI over 30+ files (a few KiB up to 256 MiB)
 * against a server that faults on most requests: 429/503 with and without
 * Retry-After, resets at random offsets, trickles under the speed floor,
 * Range ignored, content replaced mid-way (new ETag), short bodies, slow
 * headers, stalls. Every file ends byte-exact, or in the failures CSV with
 * the code its last fault calls for, after spending every retry on requests
 * that were all faulted: no corrupt file, no stray part, no lost row, no
 * give-up the server did not force. DLR_CHAOS_SEED replays a run exactly
 * (faults, offsets and file contents all come from the seed);
 * DLR_CHAOS_SOAK=1 runs a longer one; DLR_CHAOS_LOG=1 prints dlr's log.
 */
const SEED = Number(process.env.DLR_CHAOS_SEED ?? 424242);
const SOAK = process.env.DLR_CHAOS_SOAK === '1';
const MiB = 1 << 20;
const SIZES = [256 * MiB, 64 * MiB, 32 * MiB, 8 * MiB, 8 * MiB, 4 * MiB, 2 * MiB, 2 * MiB, 1 * MiB, ...Array.from({ length: SOAK ? 91 : 23 }, (_, i) => 3_000 + i * 37_123)];
const TYPES = ['checkpoint', 'lora', 'embedding', 'other'] as const;
const RETRY_DELAYS = [0.01, 0.01, 0.02, 0.02, 0.05, 0.05];
const SPEED_FLOOR = 64 * 1024;
const SPEED_WINDOW_S = 0.3;
const TIMEOUT_S = 1;
/** Files whose server never relents, one per kind of fault that fails an attempt, so every run checks each kind's code. */
const NEVER: ReadonlyArray<{ path: string; name: string; fault: Fault }> = [
  { path: '/never/429', name: 'never-429.bin', fault: { kind: 'status', status: 429 } },
  { path: '/never/503', name: 'never-503.bin', fault: { kind: 'status', status: 503, retryAfter: '0' } },
  { path: '/never/reset', name: 'never-reset.bin', fault: { kind: 'reset-after', bytes: 0 } },
  { path: '/never/short', name: 'never-short.bin', fault: { kind: 'short-body', bytes: 1_000 } },
  { path: '/never/trickle', name: 'never-trickle.bin', fault: { kind: 'trickle', bytesPerSec: 2_000, afterBytes: 1_000 } },
  { path: '/never/stall', name: 'never-stall.bin', fault: { kind: 'stall', afterBytes: 1_000 } },
];

/**
 * The code a file must fail with when `fault` was the last thing the server
 * did to it, derived from the fault and this run's policy (undefined: the
 * fault cannot make an attempt fail, so a file that ends on it must be done).
 */
function codeFor(fault: Fault | undefined): ErrorCode | undefined {
  switch (fault?.kind) {
    case 'status':
      // Both sites' throttling signals; any other 5xx is a server error.
      return fault.status === 429 || fault.status === 503 ? 'rate-limited' : fault.status >= 500 ? 'server-error' : undefined;
    case 'reset-after':
    case 'short-body':
      return 'network';
    case 'trickle':
      // 2 KB/s against a 64 KiB/s floor: the floor trips.
      return fault.bytesPerSec < SPEED_FLOOR ? 'rate-limited' : undefined;
    case 'stall':
      // Silence drops the windowed speed to 0: whichever of the floor's window and the idle timeout is shorter ends it.
      return SPEED_WINDOW_S < TIMEOUT_S ? 'rate-limited' : 'timeout';
    case 'delay-headers':
      return fault.ms >= TIMEOUT_S * 1000 ? 'timeout' : undefined;
    default:
      // No fault, or one a correct client absorbs (Range ignored: take the 200 from zero).
      return undefined;
  }
}

const labelOf = (fault: Fault | undefined) =>
  fault ? (fault.kind === 'status' ? `${fault.status}${fault.retryAfter ? '+retry-after' : ''}` : fault.kind) : 'none';

/** Seeded bytes (an AES-CTR keystream): the same for the same seed and label, so a replay serves the same files. */
function seededBytes(size: number, label: string): Buffer {
  const key = createHash('sha256').update(`${SEED}:${label}`).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

/**
 * A re-upload: the old bytes with 16 new ones at every 4 KiB (offset 0
 * included), so any splice of the two versions differs from the new one,
 * yet made in milliseconds inside the request handler: a full regeneration
 * of 256 MiB would hold the server past dlr's 1 s header timeout.
 */
function reupload(old: Buffer, label: string): Buffer {
  const next = Buffer.from(old);
  const patch = seededBytes(16 * Math.ceil(old.length / 4096), label);
  for (let at = 0, i = 0; at < next.length; at += 4096, i += 16) patch.copy(next, at, i, i + Math.min(16, next.length - at));
  return next;
}

/** A strong ETag per version, given rather than hashed by the server on every request (256 MiB each time). */
const etag = (label: string) => `"${SEED}-${label}"`;

interface ServedFile {
  readonly path: string;
  readonly name: string;
  readonly type: (typeof TYPES)[number];
  /** The file's own server: its own origin (see beforeAll). */
  server: FaultServer;
  body: Buffer;
  /** What the server did to each request for this file, in order (undefined: served clean). */
  readonly faults: Array<Fault | undefined>;
}

let w: BatchEnv;
const served: ServedFile[] = [];
const injected = new Map<string, number>();
const count = (label: string) => injected.set(label, (injected.get(label) ?? 0) + 1);

/**
 * The faults for one file's requests, from a generator seeded by the run's
 * seed and the file alone: dlr fetches several files at once, so the order
 * in which requests for different files arrive varies from run to run, and
 * one shared generator would hand them different faults.
 */
function faultPicker(file: ServedFile, index: number): () => Fault | undefined {
  const never = NEVER.find((n) => n.path === file.path);
  if (never) return () => never.fault;
  const random = mulberry32((Math.imul(SEED, 0x9e3779b1) ^ (index + 1)) >>> 0);
  let replacements = 0;
  return () => {
    if (random() < 0.35) return undefined;
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
        const version = `${file.path}#${++replacements}`;
        file.body = reupload(file.body, version);
        file.server.setFile(file.path, { body: file.body, etag: etag(version) });
        count('content-replaced');
        return { kind: 'reset-after', bytes: at() };
      },
    ];
    const fault = choices[Math.floor(random() * choices.length)]!();
    count(labelOf(fault));
    return fault;
  };
}

beforeAll(async () => {
  w = await makeBatchEnv();
  const files = [
    ...SIZES.map((size, i) => ({ path: `/f/${i}`, name: `file-${i}.bin`, type: TYPES[i % TYPES.length]!, size })),
    ...NEVER.map((n) => ({ path: n.path, name: n.name, type: 'lora' as const, size: 100_000 })),
  ];
  // One server, so one origin, per file. dlr's origin limiter slows a whole
  // origin after a 429 or 503 (and halves the rate it allows); with a fifth
  // of all requests throttled at random on one shared origin, that stretched
  // this run from seconds to many minutes, and tied each file's fate to the
  // others'. This suite is about what happens to each file's bytes; the
  // limiter's pacing of one origin is tested where it is built.
  for (const [index, spec] of files.entries()) {
    const file: ServedFile = { ...spec, server: await startFaultServer(), body: seededBytes(spec.size, spec.path), faults: [] };
    file.server.setFile(file.path, { body: file.body, etag: etag(file.path) });
    const pick = faultPicker(file, index);
    file.server.pickFaults((path) => {
      if (path !== file.path) return undefined;
      const fault = pick();
      file.faults.push(fault);
      return fault;
    });
    served.push(file);
  }
  await writeFile(
    w.historyPath,
    ['timestamp,model_type,url,filename', ...served.map((f) => `2024-10-24 10:00:00,${f.type},${f.server.url(f.path)},${f.name}`)].join('\n') + '\n',
  );
}, 60_000);

afterAll(async () => {
  await Promise.all(served.map((f) => f.server.close()));
  await w?.cleanup();
});

describe('chaos suite', () => {
  it(`ends every one of ${SIZES.length + NEVER.length} files byte-exact or failed with the code its faults call for (seed ${SEED})`, async () => {
    const run = await runCli(
      [
        'redownload', 'all',
        '--retry-delays', RETRY_DELAYS.join(','),
        '--speed-floor', `${SPEED_FLOOR / 1024}KiB`,
        '--speed-window', String(SPEED_WINDOW_S),
        '--timeout', String(TIMEOUT_S),
        '--summary-json', 'summary.json',
      ],
      { cwd: w.root, env: w.env, timeoutMs: 240_000 },
    );
    if (process.env.DLR_CHAOS_LOG === '1') console.log(run.stderr);
    expect([0, 1], run.stderr.slice(-3000)).toContain(run.code);
    expect(run.stderr).not.toMatch(/internal error|\n\s+at /);

    const failures = run.code === 1 ? (parse(await readFile(join(w.root, 'failures.csv'), 'utf8'), { columns: true }) as Array<Record<string, string>>) : [];
    const failedByName = new Map(failures.map((r) => [r.filename, r]));
    // Every file's fate, checked together so one report names every file that went wrong.
    const wrong: string[] = [];
    let exact = 0;
    for (const file of served) {
      const dir = w.dirOf(file.type);
      const names = await readdir(dir);
      const row = failedByName.get(file.name);
      const story = `${file.name} (${file.body.length} B; faults: ${file.faults.map(labelOf).join(', ')})`;
      const leftovers = names.filter((n) => n.startsWith(`${file.name}.`) && !n.endsWith('.part') && !n.endsWith('.part.json'));
      if (row === undefined) {
        // Done: the final file is the server's current version, and nothing else is left beside it.
        if (!names.includes(file.name)) {
          wrong.push(`${story}: neither done nor in the failures CSV`);
          continue;
        }
        const got = sha256(await readFile(join(dir, file.name)));
        if (got !== sha256(file.body)) wrong.push(`${story}: done but not byte-exact`);
        else exact++;
        const stray = names.filter((n) => n.startsWith(`${file.name}.`));
        if (stray.length > 0) wrong.push(`${story}: done, yet left ${stray.join(', ')}`);
        continue;
      }
      // Failed: only after every retry went to a faulted request, with the code the last fault calls for.
      const expected = codeFor(file.faults.at(-1));
      if (row.error_code !== expected) wrong.push(`${story}: failed as ${row.error_code} (${row.error_message}), the last fault calls for ${expected ?? 'success'}`);
      if (file.faults.includes(undefined)) wrong.push(`${story}: failed although a request was served clean`);
      if (Number(row.attempts) !== RETRY_DELAYS.length + 1 || file.faults.length !== RETRY_DELAYS.length + 1) {
        wrong.push(`${story}: failed after ${row.attempts} attempts (${file.faults.length} requests), not the ${RETRY_DELAYS.length + 1} the retries allow`);
      }
      if (names.includes(file.name)) wrong.push(`${story}: failed, yet a final file claims to be it`);
      if (leftovers.length > 0) wrong.push(`${story}: failed, and left ${leftovers.join(', ')} beside its part`);
    }
    for (const name of failedByName.keys()) if (!served.some((f) => f.name === name)) wrong.push(`${name}: in the failures CSV but never in the history`);

    const summary = JSON.parse(await readFile(join(w.root, 'summary.json'), 'utf8'));
    const fileBytes = served.reduce((n, f) => n + f.body.length, 0);
    const requests = served.flatMap((f) => f.server.requests);
    const sent = requests.reduce((n, r) => n + r.bytesSent, 0);
    const faults = [...injected.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`);
    console.log(
      `chaos: seed ${SEED}, ${served.length} files (${(fileBytes / MiB).toFixed(0)} MiB), ${exact} byte-exact, ${failures.length} failed ` +
        `(${failures.map((r) => `${r.filename} ${r.error_code}`).join(', ') || 'none'}); ${requests.length} requests, faults injected: ${faults.join(', ')}; ` +
        `retries ${summary.retries.total}; bytes fetched ${(summary.bytes / MiB).toFixed(1)} MiB, sent ${(sent / MiB).toFixed(1)} MiB, for ${(fileBytes / MiB).toFixed(1)} MiB of files`,
    );
    expect(wrong, wrong.join('\n')).toEqual([]);
    // No lost row: every file is either done or listed.
    expect(exact + failures.length).toBe(served.length);
    // The never-relenting servers prove the failure path is exercised on every seed.
    for (const never of NEVER) expect(failedByName.get(never.name)?.error_code, never.name).toBe(codeFor(never.fault));
    // The run was chaotic: most files met at least one fault.
    expect(served.filter((f) => f.faults.some((x) => x !== undefined)).length).toBeGreaterThan(served.length / 2);
  }, 300_000);
});
