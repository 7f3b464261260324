import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { etagOf, makeBytes, sha256, type Fault } from '../../fixtures/server/fault-server.js';
import { useFaultServer } from '../helpers/fault-server-context.js';
import { fileSha, runDownload } from '../helpers/engine.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const body = makeBytes(3 * MiB, 21);
const path = '/big.safetensors';
const t = useFaultServer((server) => server.setFile(path, { body }));
const target = () => join(t.dir, 'big.safetensors');
const dest = () => ({ dir: t.dir, name: 'big.safetensors' });
/** Four connections; ranges split down to 128 KiB, so a 3 MiB file gets all four. */
const x4 = { connections: 4, minSplitSizeBytes: 128 * KiB };

/** `bytes=a-b` → [a, b+1); `bytes=a-` → [a, total). */
function rangeOf(value: unknown, total: number): [number, number] | undefined {
  const m = /^bytes=(\d+)-(\d*)$/.exec(String(value ?? ''));
  if (!m) return undefined;
  return [Number(m[1]), m[2] === '' ? total : Number(m[2]) + 1];
}

/** Picks a fault for the n-th request (1-based) to `at`, none for the others. */
function faultOnRequest(at: string, n: number, fault: Fault) {
  let seen = 0;
  return (p: string) => (p === at && ++seen === n ? fault : undefined);
}

describe('segmented downloads', () => {
  it('fetches one file over several ranged requests, each with If-Range, into one byte-exact file', async () => {
    t.server.setFile(path, { body, bytesPerSec: 8 * MiB });
    const { result } = await runDownload({ url: t.server.url(path), dest: dest() }, { policy: x4 });
    expect(result).toMatchObject({ status: 'done', size: body.length, retries: 0 });
    expect(await fileSha(target())).toBe(sha256(body));
    const reqs = t.server.requestsTo(path);
    expect(reqs[0]?.headers.range).toBe('bytes=0-');
    expect(reqs.length).toBeGreaterThanOrEqual(4);
    for (const r of reqs.slice(1)) {
      expect(r.headers['if-range']).toBe(etagOf(body));
      expect(rangeOf(r.headers.range, body.length)).toBeDefined();
    }
    expect(t.server.maxInFlight()).toBeGreaterThanOrEqual(2);
    // Every byte arrived once: stolen halves cut the first answer short, nothing was fetched twice.
    expect(result.bytesFetched).toBe(body.length);
    expect((await readdir(t.dir)).sort()).toEqual(['big.safetensors']);
  });

  it('N connections each throttled by the server finish in about 1/N of one connection\'s time', async () => {
    const small = makeBytes(1536 * KiB, 22);
    // The server throttles every answer (a CDN's per-connection cap), not the client.
    t.server.setFile('/slow.bin', { body: small, bytesPerSec: 1 * MiB });
    const one = performance.now();
    const single = await runDownload({ url: t.server.url('/slow.bin'), dest: { dir: t.dir, name: 'one.bin' } });
    const oneMs = performance.now() - one;
    const four = performance.now();
    const multi = await runDownload({ url: t.server.url('/slow.bin'), dest: { dir: t.dir, name: 'four.bin' } }, { policy: x4 });
    const fourMs = performance.now() - four;
    expect(single.result.status).toBe('done');
    expect(multi.result.status).toBe('done');
    expect(await fileSha(join(t.dir, 'four.bin'))).toBe(sha256(small));
    // Ideal is 1/4; generous for a loaded 2-core machine, and still far from one connection's time.
    expect(fourMs).toBeLessThan(oneMs * 0.55);
  });

  it('stays on one connection when the server ignores Range (a 200 to bytes=0-)', async () => {
    t.server.pickFaults(() => ({ kind: 'ignore-range' }));
    const { result } = await runDownload({ url: t.server.url(path), dest: dest() }, { policy: x4 });
    expect(result).toMatchObject({ status: 'done', bytesFetched: body.length });
    expect(t.server.requestsTo(path)).toHaveLength(1);
    expect(await fileSha(target())).toBe(sha256(body));
  });

  it('goes on over one connection, never splicing, when a later segment gets a 200', async () => {
    t.server.setFile(path, { body, bytesPerSec: 4 * MiB });
    t.server.pickFaults(faultOnRequest(path, 2, { kind: 'ignore-range' }));
    const { result, events } = await runDownload({ url: t.server.url(path), dest: dest() }, { policy: x4 });
    expect(result.status).toBe('done');
    expect(await fileSha(target())).toBe(sha256(body));
    // The next attempt is one stream from the end of the first run of bytes (no Range when that is 0).
    const last = t.server.requestsTo(path).at(-1);
    expect(String(last?.headers.range ?? 'bytes=0-')).toMatch(/^bytes=\d+-$/);
    expect(events.filter((e) => e.type === 'request').length).toBeGreaterThan(2);
  });

  it('uses one connection for a weak ETag (If-Range could not refuse another version)', async () => {
    t.server.setFile(path, { body, etag: 'W/"w"' });
    const { result } = await runDownload({ url: t.server.url(path), dest: dest() }, { policy: x4 });
    expect(result.status).toBe('done');
    expect(t.server.requestsTo(path)).toHaveLength(1);
    expect(await fileSha(target())).toBe(sha256(body));
  });

  it('keeps a small file on one connection', async () => {
    const { result } = await runDownload(
      { url: t.server.url(path), dest: dest() },
      { policy: { connections: 4, minSplitSizeBytes: 2 * MiB } },
    );
    expect(result.status).toBe('done');
    expect(t.server.requestsTo(path)).toHaveLength(1);
  });

  it('fetches the new version whole when the file is replaced while segments run', async () => {
    const v2 = makeBytes(body.length, 23);
    t.server.setFile(path, { body, bytesPerSec: 2 * MiB });
    let replaced = false;
    const { result, events } = await runDownload(
      { url: t.server.url(path), dest: dest() },
      {
        policy: x4,
        onEvent: (e) => {
          // Just before the first segment request leaves: the first answer streams the old version on.
          if (!replaced && e.type === 'request' && e.offset > 0) {
            replaced = true;
            // Same size, new ETag: only If-Range and the validators tell.
            t.server.setFile(path, { body: v2, bytesPerSec: 2 * MiB });
          }
        },
      },
    );
    expect(replaced).toBe(true);
    expect(result).toMatchObject({ status: 'done', size: v2.length });
    expect(await fileSha(target())).toBe(sha256(v2));
    expect(events.some((e) => e.type === 'restart')).toBe(true);
  });

  it('a reset in one segment costs one retry of that segment; the others keep going', async () => {
    t.server.setFile(path, { body, bytesPerSec: 4 * MiB });
    t.server.pickFaults(faultOnRequest(path, 3, { kind: 'reset-after', bytes: 100 * KiB }));
    const { result } = await runDownload({ url: t.server.url(path), dest: dest() }, { policy: x4 });
    // Every byte used once: the reset segment went on from where it stopped, no segment started over.
    expect(result).toMatchObject({ status: 'done', retries: 1, bytesFetched: body.length });
    expect(await fileSha(target())).toBe(sha256(body));
    const reset = t.server.requestsTo(path)[2];
    expect(reset?.fault).toBe('reset-after');
    const [from, to] = rangeOf(reset?.headers.range, body.length) ?? [-1, -1];
    const resumed = t.server.requestsTo(path).find((r) => {
      const start = rangeOf(r.headers.range, body.length)?.[0] ?? -1;
      return start > from && start <= from + 100 * KiB;
    });
    expect(resumed, `a request continuing [${from}, ${to})`).toBeDefined();
  });

  it('checks the published SHA-256 before the rename; a mismatch refetches once, then fails', async () => {
    const ok = await runDownload({ url: t.server.url(path), dest: dest(), expect: { sha256: sha256(body) } }, { policy: x4 });
    expect(ok.result).toMatchObject({ status: 'done', verified: true });
    const wrong = await runDownload(
      { url: t.server.url(path), dest: { dir: t.dir, name: 'wrong.bin' }, overwrite: true, expect: { sha256: 'ab'.repeat(32) } },
      { policy: x4 },
    );
    expect(wrong.result).toMatchObject({ status: 'failed', error: { code: 'hash-mismatch' } });
    expect(wrong.result.bytesFetched).toBe(2 * body.length);
    expect((await readdir(t.dir)).sort()).toEqual(['big.safetensors']);
  });
});

describe('signed links during a segmented download', () => {
  const cdn = '/cdn/big.safetensors';

  it('every segment asks the source URL, so links that expire every 400 ms never stop a longer transfer', async () => {
    t.server.setFile(cdn, { body, bytesPerSec: 1 * MiB });
    t.server.signedLinks('/dl', { cdnPath: cdn, lifetimeMs: 400 });
    // Two segments go silent and time out: they ask again long after their first link expired.
    let n = 0;
    t.server.pickFaults((p) => (p === cdn && [2, 4].includes(++n) ? { kind: 'stall', afterBytes: 100 * KiB } : undefined));
    const { result } = await runDownload({ url: t.server.url('/dl'), dest: dest() }, { policy: { ...x4, idleTimeoutMs: 600 } });
    expect(result).toMatchObject({ status: 'done', retries: 2, bytesFetched: body.length });
    expect(await fileSha(target())).toBe(sha256(body));
    const firstAt = t.server.requestsTo(cdn)[0]?.at ?? 0;
    // Served, not refused: each came with a fresh link from the source's redirect.
    const late = t.server.requestsTo(cdn).filter((r) => r.at > firstAt + 600 && r.status !== 403 && r.bytesSent > 0);
    expect(late.length).toBeGreaterThanOrEqual(2);
    expect(t.server.requestsTo('/dl').length).toBe(t.server.requestsTo(cdn).length);
  });

  it('a segment refused with 403 (an expired link) goes back to the source at once; the others keep going', async () => {
    t.server.setFile(cdn, { body, bytesPerSec: 2 * MiB });
    t.server.signedLinks('/dl', { cdnPath: cdn, lifetimeMs: 60_000 });
    t.server.pickFaults(faultOnRequest(cdn, 3, { kind: 'status', status: 403, body: 'Request has expired' }));
    const { result } = await runDownload({ url: t.server.url('/dl'), dest: dest() }, { policy: x4 });
    expect(result).toMatchObject({ status: 'done', retries: 0 });
    expect(await fileSha(target())).toBe(sha256(body));
    const refused = t.server.requestsTo(cdn)[2];
    expect(refused?.fault).toBe('status');
    // The very next request for that range went through the source's redirect again.
    const again = t.server.requestsTo(cdn).find((r) => r !== refused && r.headers.range === refused?.headers.range);
    expect(again).toBeDefined();
    expect(result.bytesFetched).toBe(body.length);
  });
});

describe('sidecar version 2', () => {
  it('records durable ranges while segments run, and an old single-stream sidecar still resumes', async () => {
    t.server.setFile(path, { body, bytesPerSec: 2 * MiB });
    const stop = new AbortController();
    let sidecarSeen: { version: number; done: [number, number][] } | undefined;
    const first = await runDownload(
      { url: t.server.url(path), dest: dest() },
      {
        policy: x4,
        signal: stop.signal,
        onEvent: (e) => {
          if (e.type === 'progress' && e.bytes > 1 * MiB) stop.abort();
        },
      },
    );
    expect(first.result).toMatchObject({ status: 'failed', error: { code: 'interrupted' } });
    sidecarSeen = JSON.parse(await readFile(`${target()}.part.json`, 'utf8'));
    expect(sidecarSeen?.version).toBe(2);
    expect(sidecarSeen?.done.length).toBeGreaterThan(1);
    // An interrupt records everything that arrived: the resume fetches only the rest.
    const had = sidecarSeen!.done.reduce((n, [s, e]) => n + e - s, 0);
    t.server.setFile(path, { body });
    const second = await runDownload({ url: t.server.url(path), dest: dest() }, { policy: x4 });
    expect(second.result.status).toBe('done');
    expect(second.result.bytesFetched).toBe(body.length - had);
    expect(await fileSha(target())).toBe(sha256(body));
  });

  it('a segmented part resumes over one connection from the end of its first run of bytes', async () => {
    t.server.setFile(path, { body, bytesPerSec: 2 * MiB });
    const stop = new AbortController();
    await runDownload(
      { url: t.server.url(path), dest: dest() },
      { policy: x4, signal: stop.signal, onEvent: (e) => e.type === 'progress' && e.bytes > 1 * MiB && stop.abort() },
    );
    const side = JSON.parse(await readFile(`${target()}.part.json`, 'utf8')) as { done: [number, number][] };
    const prefix = side.done[0]?.[0] === 0 ? side.done[0][1] : 0;
    t.server.setFile(path, { body });
    const n = t.server.requestsTo(path).length;
    const { result } = await runDownload({ url: t.server.url(path), dest: dest() });
    expect(result).toMatchObject({ status: 'done', bytesFetched: body.length - prefix });
    expect(t.server.requestsTo(path)[n]?.headers.range).toBe(`bytes=${prefix}-`);
    expect(await fileSha(target())).toBe(sha256(body));
  });
});
