import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useFaultServer } from '../helpers/fault-server-context.js';
import { createHttpClient } from '../../src/http/client.js';
import { makeBytes, sha256 } from '../../fixtures/server/fault-server.js';
import { fileSha, runDownload } from '../helpers/engine.js';
import { fastPolicy } from '../helpers/policy.js';

const body = makeBytes(300_000, 7);

const t = useFaultServer((server) => server.setFile('/models/a.safetensors', { body }));

describe('a plain download', () => {
  it('writes the exact bytes under the URL name, with no part or sidecar left behind', async () => {
    const { result } = await runDownload({ url: t.server.url('/models/a.safetensors'), dest: { dir: t.dir } });
    expect(result).toMatchObject({ status: 'done', size: body.length, attempts: 1, retries: 0 });
    expect(await fileSha(join(t.dir, 'a.safetensors'))).toBe(sha256(body));
    expect(await readdir(t.dir)).toEqual(['a.safetensors']);
    expect(t.server.requests[0]?.headers.range).toBeUndefined();
    expect(t.server.requests[0]?.headers['user-agent']).toMatch(/^dlr\//);
  });

  it('saves to an exact path with dest.file', async () => {
    const target = join(t.dir, 'sub', 'renamed.bin');
    const { result } = await runDownload({ url: t.server.url('/models/a.safetensors'), dest: { file: target } });
    expect(result.status).toBe('done');
    expect(await fileSha(target)).toBe(sha256(body));
  });

  it('skips an existing file without a request, unless told to overwrite', async () => {
    const target = join(t.dir, 'a.safetensors');
    await writeFile(target, 'old');
    const skipped = await runDownload({ url: t.server.url('/models/a.safetensors'), dest: { dir: t.dir, name: 'a.safetensors' } });
    expect(skipped.result.status).toBe('skipped');
    expect(t.server.requests).toHaveLength(0);
    const forced = await runDownload({ url: t.server.url('/models/a.safetensors'), dest: { dir: t.dir, name: 'a.safetensors' }, overwrite: true });
    expect(forced.result.status).toBe('done');
    expect(await fileSha(target)).toBe(sha256(body));
  });

  it('keeps the old file in place until the replacement is complete', async () => {
    const target = join(t.dir, 'a.safetensors');
    await writeFile(target, 'old');
    t.server.script('/models/a.safetensors', { kind: 'trickle', bytesPerSec: 2_000_000, afterBytes: 1000 });
    const seenDuring: string[] = [];
    const { result } = await runDownload(
      { url: t.server.url('/models/a.safetensors'), dest: { file: target }, overwrite: true },
      {
        onEvent: (e) => {
          if (e.type === 'progress' && e.bytes > 0 && e.bytes < body.length && seenDuring.length === 0) {
            seenDuring.push('pending');
            void readFile(target, 'utf8').then((t) => (seenDuring[0] = t));
          }
        },
      },
    );
    expect(result.status).toBe('done');
    expect(seenDuring).toEqual(['old']);
    expect(await fileSha(target)).toBe(sha256(body));
  });

  it('names the file from Content-Disposition, preferring filename*', async () => {
    t.server.setFile('/api/download/models/42', {
      body,
      contentDisposition: `attachment; filename*=UTF-8''m%C3%B6del.safetensors; filename="model.safetensors"`,
    });
    const { result } = await runDownload({ url: t.server.url('/api/download/models/42'), dest: { dir: t.dir } });
    expect(result).toMatchObject({ status: 'done', path: join(t.dir, 'mödel.safetensors') });
  });

  it('never lets a hostile Content-Disposition write outside the destination', async () => {
    for (const [i, cd] of [
      'attachment; filename="../../../escape.bin"',
      'attachment; filename="/etc/escape.bin"',
      `attachment; filename*=UTF-8''..%2F..%2Fescape.bin`,
      'attachment; filename="..\\\\..\\\\escape.bin"',
      'attachment; filename=".."',
    ].entries()) {
      t.server.setFile(`/cd/${i}`, { body, contentDisposition: cd });
      const sub = join(t.dir, `d${i}`);
      const { result } = await runDownload({ url: t.server.url(`/cd/${i}`), dest: { dir: sub } });
      expect(result.status).toBe('done');
      expect(result.path?.startsWith(`${sub}/`)).toBe(true);
      expect(await readdir(sub)).toHaveLength(1);
    }
    expect((await readdir(t.dir)).sort()).toEqual(['d0', 'd1', 'd2', 'd3', 'd4']);
  });

  it('decodes a gzip body a server sends despite Accept-Encoding: identity', async () => {
    t.server.script('/models/a.safetensors', { kind: 'gzip' });
    const { result } = await runDownload({ url: t.server.url('/models/a.safetensors'), dest: { dir: t.dir } });
    expect(result.status).toBe('done');
    expect(t.server.requests[0]?.headers['accept-encoding']).toBe('identity');
    expect(await fileSha(join(t.dir, 'a.safetensors'))).toBe(sha256(body));
  });

  it('saves a body of unknown length (chunked) whole', async () => {
    t.server.setFile('/chunked.bin', { body, chunked: true });
    const { result } = await runDownload({ url: t.server.url('/chunked.bin'), dest: { dir: t.dir } });
    expect(result).toMatchObject({ status: 'done', size: body.length });
    expect(await fileSha(join(t.dir, 'chunked.bin'))).toBe(sha256(body));
  });

  it('reuses one keep-alive connection across downloads sharing the dispatcher', async () => {
    t.server.setFile('/b.bin', { body: makeBytes(1000, 3) });
    const client = createHttpClient({ policy: fastPolicy() });
    try {
      await runDownload({ url: t.server.url('/models/a.safetensors'), dest: { dir: t.dir } }, { client });
      await runDownload({ url: t.server.url('/b.bin'), dest: { dir: t.dir } }, { client });
    } finally {
      await client.close();
    }
    expect(t.server.requests).toHaveLength(2);
    expect(t.server.connections()).toBe(1);
  });
});

describe('the part writer under a download', () => {
  // Tiny batches, a background flush every few KiB and a collection every
  // few chunks: every path of the writer runs many times in one body.
  const busyWriter = { writeBufferBytes: 1024, syncEveryBytes: 8192, collectEveryBytes: 16_384 };

  it('lands byte-exact with tiny batches, frequent background flushes and collections', async () => {
    const { result } = await runDownload({ url: t.server.url('/models/a.safetensors'), dest: { dir: t.dir } }, { policy: busyWriter });
    expect(result).toMatchObject({ status: 'done', size: body.length });
    expect(await fileSha(join(t.dir, 'a.safetensors'))).toBe(sha256(body));
  });

  it('resumes a body reset mid-way from what reached the part', async () => {
    t.server.script('/models/a.safetensors', { kind: 'reset-after', bytes: 123_457 });
    const { result } = await runDownload({ url: t.server.url('/models/a.safetensors'), dest: { dir: t.dir } }, { policy: busyWriter });
    expect(result).toMatchObject({ status: 'done', size: body.length, attempts: 2 });
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(String(t.server.requests[1]?.headers.range))?.[1]);
    // The part held bytes from the first attempt, and never more than the server sent.
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(123_457);
    expect(await fileSha(join(t.dir, 'a.safetensors'))).toBe(sha256(body));
  });
});
