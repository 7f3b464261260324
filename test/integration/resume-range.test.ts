import { readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useFaultServer } from '../helpers/fault-server-context.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { etagOf, makeBytes, sha256 } from '../../fixtures/server/fault-server.js';
import { fileSha, runDownload } from '../helpers/engine.js';

const v1 = makeBytes(400_000, 11);
const v2 = makeBytes(420_000, 12);
const path = '/f.safetensors';

const t = useFaultServer((server) => server.setFile(path, { body: v1 }));

const target = () => join(t.dir, 'f.safetensors');
const ranges = () => t.server.requestsTo(path).map((r) => r.headers.range ?? null);
/** Bytes still in flight when a socket dies may be lost, so a resume starts somewhere in (0, sent]. */
const resumedFrom = (range: unknown) => Number(/^bytes=(\d+)-$/.exec(String(range))?.[1] ?? Number.NaN);
const rangesShape = () => ranges().map((r) => (typeof r === 'string' && /^bytes=[1-9]\d*-$/.test(r) ? 'bytes=N-' : r));

describe('resume after a broken body', () => {
  it.each([
    ['a reset connection', { kind: 'reset-after', bytes: 150_000 } as const],
    ['a body shorter than Content-Length', { kind: 'short-body', bytes: 150_000 } as const],
  ])('continues from the part with Range and If-Range after %s', async (_label, fault) => {
    t.server.script(path, fault);
    const { result, events } = await runDownload({ url: t.server.url(path), dest: { dir: t.dir, name: 'f.safetensors' } });
    expect(result).toMatchObject({ status: 'done', attempts: 2, retries: 1 });
    expect(events.find((e) => e.type === 'retry')).toMatchObject({ code: 'network' });
    expect(await fileSha(target())).toBe(sha256(v1));
    const second = t.server.requestsTo(path)[1];
    expect(resumedFrom(second?.headers.range)).toBeGreaterThan(0);
    expect(resumedFrom(second?.headers.range)).toBeLessThanOrEqual(150_000);
    expect(second?.headers['if-range']).toBe(etagOf(v1));
    // Bytes fetched: the file once, plus nothing re-sent.
    expect(result.bytesFetched).toBe(v1.length);
  });

  it('sends no If-Range with only a weak ETag, and resumes when the 206 carries the same one', async () => {
    // RFC 9110 §13.1.5: no weak tag in If-Range, and no date when there is any ETag.
    t.server.setFile(path, { body: v1, etag: 'W/"weak"', lastModified: 'Mon, 02 Sep 2024 10:00:00 GMT' });
    t.server.script(path, { kind: 'reset-after', bytes: 100_000 });
    const { result } = await runDownload({ url: t.server.url(path), dest: { dir: t.dir } });
    expect(result).toMatchObject({ status: 'done', bytesFetched: v1.length });
    expect(t.server.requestsTo(path)[1]?.headers['if-range']).toBeUndefined();
    expect(resumedFrom(t.server.requestsTo(path)[1]?.headers.range)).toBeGreaterThan(0);
    expect(await fileSha(target())).toBe(sha256(v1));
  });

  it('uses Last-Modified for If-Range when there is no ETag at all', async () => {
    t.server.setFile(path, { body: v1, etag: null, lastModified: 'Mon, 02 Sep 2024 10:00:00 GMT' });
    t.server.script(path, { kind: 'reset-after', bytes: 100_000 });
    const { result } = await runDownload({ url: t.server.url(path), dest: { dir: t.dir } });
    expect(result.status).toBe('done');
    expect(t.server.requestsTo(path)[1]?.headers['if-range']).toBe('Mon, 02 Sep 2024 10:00:00 GMT');
    expect(await fileSha(target())).toBe(sha256(v1));
  });

  it('never splices two versions that only weak ETags tell apart', async () => {
    const v2 = makeBytes(v1.length, 13); // same size: only the tag differs
    t.server.setFile(path, { body: v1, etag: 'W/"w1"', lastModified: null });
    t.server.script(path, { kind: 'reset-after', bytes: 100_000 });
    const { result, events } = await runDownload(
      { url: t.server.url(path), dest: { dir: t.dir } },
      {
        onEvent: (e) => {
          if (e.type === 'retry') t.server.setFile(path, { body: v2, etag: 'W/"w2"', lastModified: null });
        },
      },
    );
    expect(result).toMatchObject({ status: 'done', size: v2.length });
    expect(events.some((e) => e.type === 'restart')).toBe(true);
    expect(await fileSha(target())).toBe(sha256(v2));
  });
});

describe('resume when the server names the file', () => {
  it('finds the part by its URL and resumes with the first request of the next run', async () => {
    t.server.setFile('/dl', { body: v1, headers: { 'content-disposition': 'attachment; filename="named.safetensors"' } });
    t.server.script('/dl', { kind: 'reset-after', bytes: 150_000 });
    const first = await runDownload({ url: t.server.url('/dl'), dest: { dir: t.dir } }, { policy: { retryDelaysMs: [] } });
    expect(first.result.status).toBe('failed');
    expect((await readdir(t.dir)).sort()).toEqual(['named.safetensors.part', 'named.safetensors.part.json']);
    const second = await runDownload({ url: t.server.url('/dl'), dest: { dir: t.dir } });
    expect(second.result).toMatchObject({ status: 'done', attempts: 1 });
    const requests = t.server.requestsTo('/dl');
    expect(requests).toHaveLength(2);
    expect(resumedFrom(requests[1]?.headers.range)).toBeGreaterThan(0);
    expect(await fileSha(join(t.dir, 'named.safetensors'))).toBe(sha256(v1));
  });
});

describe('answers to a Range request', () => {
  it('starts over when the server ignores Range (200), never appending', async () => {
    t.server.script(path, { kind: 'reset-after', bytes: 100_000 }, { kind: 'ignore-range' });
    const { result, events } = await runDownload({ url: t.server.url(path), dest: { dir: t.dir } });
    expect(result.status).toBe('done');
    expect(rangesShape()).toEqual([null, 'bytes=N-']);
    expect(events.some((e) => e.type === 'restart')).toBe(true);
    expect(await fileSha(target())).toBe(sha256(v1));
  });

  it('starts over with the new version when the file changed (If-Range fails → 200)', async () => {
    t.server.script(path, { kind: 'reset-after', bytes: 100_000 });
    const { result } = await runDownload(
      { url: t.server.url(path), dest: { dir: t.dir } },
      {
        onEvent: (e) => {
          if (e.type === 'retry') t.server.setFile(path, { body: v2 });
        },
      },
    );
    expect(result).toMatchObject({ status: 'done', size: v2.length });
    expect(await fileSha(target())).toBe(sha256(v2));
    expect(t.server.requestsTo(path)[1]?.headers['if-range']).toBe(etagOf(v1));
  });

  it('refuses to splice two versions when a server ignores If-Range', async () => {
    t.server.script(path, { kind: 'reset-after', bytes: 100_000 });
    const { result } = await runDownload(
      { url: t.server.url(path), dest: { dir: t.dir } },
      {
        onEvent: (e) => {
          if (e.type === 'retry') {
            t.server.setFile(path, { body: v2 });
            t.server.script(path, { kind: 'ignore-if-range' });
          }
        },
      },
    );
    expect(result.status).toBe('done');
    expect(await fileSha(target())).toBe(sha256(v2));
    // The 206 for the new version was refused; a clean request without Range followed.
    expect(rangesShape()).toEqual([null, 'bytes=N-', null]);
  });

  it('discards the part and refetches on a 206 that starts at the wrong offset', async () => {
    t.server.script(path, { kind: 'reset-after', bytes: 100_000 }, { kind: 'wrong-range-start', start: 5 });
    const { result } = await runDownload({ url: t.server.url(path), dest: { dir: t.dir } });
    expect(result.status).toBe('done');
    expect(rangesShape()).toEqual([null, 'bytes=N-', null]);
    expect(await fileSha(target())).toBe(sha256(v1));
  });

  it('discards the part and refetches on a 206 with an invalid Content-Range', async () => {
    t.server.script(path, { kind: 'reset-after', bytes: 100_000 }, { kind: 'bad-content-range', contentRange: 'bytes 9-1/x' });
    const { result } = await runDownload({ url: t.server.url(path), dest: { dir: t.dir } });
    expect(result.status).toBe('done');
    expect(rangesShape()).toEqual([null, 'bytes=N-', null]);
    expect(await fileSha(target())).toBe(sha256(v1));
  });

  it('fails as invalid-response when a server keeps sending unusable answers', async () => {
    t.server.script(path, { kind: 'reset-after', bytes: 100_000 }, ...Array.from({ length: 10 }, () => ({ kind: 'wrong-range-start', start: 5 }) as const));
    // Every refetch (no Range) is answered 206-from-5 too, so no progress is possible.
    const { result } = await runDownload({ url: t.server.url(path), dest: { dir: t.dir } });
    expect(result).toMatchObject({ status: 'failed', error: { code: 'invalid-response' } });
    expect(t.server.requestsTo(path).length).toBeLessThan(10);
  });
});

describe('a part left by an earlier run', () => {
  async function plantPart(bytes: Buffer, sidecar: object | undefined) {
    await writeFile(`${target()}.part`, bytes);
    if (sidecar) await writeFile(`${target()}.part.json`, JSON.stringify(sidecar));
  }

  it('is completed by a 416 when it already holds every byte (a crash between fsync and rename)', async () => {
    await plantPart(v1, { version: 1, url: t.server.url(path), etag: etagOf(v1), total: v1.length });
    const { result } = await runDownload({ url: t.server.url(path), dest: { dir: t.dir, name: 'f.safetensors' } });
    expect(result).toMatchObject({ status: 'done', size: v1.length, bytesFetched: 0 });
    expect(ranges()).toEqual([`bytes=${v1.length}-`]);
    expect(await fileSha(target())).toBe(sha256(v1));
    expect(await readdir(t.dir)).toEqual(['f.safetensors']);
  });

  it('is discarded when a 416 names another size', async () => {
    const big = Buffer.concat([v1, Buffer.alloc(10)]);
    await plantPart(big, { version: 1, url: t.server.url(path), etag: etagOf(v1) });
    const { result } = await runDownload({ url: t.server.url(path), dest: { dir: t.dir, name: 'f.safetensors' } });
    expect(result.status).toBe('done');
    expect(ranges()).toEqual([`bytes=${big.length}-`, null]);
    expect(await fileSha(target())).toBe(sha256(v1));
  });

  it('is resumed when its sidecar matches the URL', async () => {
    await plantPart(v1.subarray(0, 1234), { version: 1, url: t.server.url(path), etag: etagOf(v1), total: v1.length });
    const { result } = await runDownload({ url: t.server.url(path), dest: { dir: t.dir, name: 'f.safetensors' } });
    expect(result).toMatchObject({ status: 'done', bytesFetched: v1.length - 1234 });
    expect(ranges()).toEqual(['bytes=1234-']);
  });

  it('is found by its URL when no name is given, and resumed with the first request', async () => {
    await plantPart(v1.subarray(0, 1234), { version: 1, url: t.server.url(path), etag: etagOf(v1), total: v1.length });
    const { result } = await runDownload({ url: t.server.url(path), dest: { dir: t.dir } });
    expect(result.status).toBe('done');
    expect(ranges()).toEqual(['bytes=1234-']);
    expect(await fileSha(target())).toBe(sha256(v1));
  });

  it.each([
    ['no sidecar', undefined],
    ['a sidecar for another URL', { version: 1, url: 'http://elsewhere/f', etag: '"x"' }],
    ['a sidecar of an unknown version', { version: 99, url: 'x' }],
  ])('is discarded when it has %s', async (_label, sidecar) => {
    await plantPart(Buffer.from('garbage from somewhere'), sidecar);
    const { result } = await runDownload({ url: t.server.url(path), dest: { dir: t.dir, name: 'f.safetensors' } });
    expect(result.status).toBe('done');
    expect(ranges()).toEqual([null]);
    expect(await fileSha(target())).toBe(sha256(v1));
  });

  it('is never followed when it is a symlink planted to point elsewhere', async () => {
    const outside = await makeTempDir();
    try {
      const victim = join(outside.path, 'victim.txt');
      await writeFile(victim, 'precious');
      await symlink(victim, `${target()}.part`);
      await writeFile(`${target()}.part.json`, JSON.stringify({ version: 1, url: t.server.url(path), etag: etagOf(v1) }));
      const { result } = await runDownload({ url: t.server.url(path), dest: { dir: t.dir, name: 'f.safetensors' } });
      expect(result.status).toBe('done');
      expect(await readFile(victim, 'utf8')).toBe('precious');
      expect((await stat(target())).isFile()).toBe(true);
      expect(await fileSha(target())).toBe(sha256(v1));
    } finally {
      await outside.cleanup();
    }
  });

  it('replaces (not follows) a final path that is a symlink, on --force', async () => {
    const outside = await makeTempDir();
    try {
      const victim = join(outside.path, 'victim.txt');
      await writeFile(victim, 'precious');
      await symlink(victim, target());
      const { result } = await runDownload({ url: t.server.url(path), dest: { dir: t.dir, name: 'f.safetensors' }, overwrite: true });
      expect(result.status).toBe('done');
      expect(await readFile(victim, 'utf8')).toBe('precious');
      expect(await fileSha(target())).toBe(sha256(v1));
    } finally {
      await outside.cleanup();
    }
  });
});
