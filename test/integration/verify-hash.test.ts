import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useFaultServer } from '../helpers/fault-server-context.js';
import { DlrError } from '../../src/errors.js';
import { etagOf, makeBytes, sha256 } from '../../fixtures/server/fault-server.js';
import { fileSha, runDownload } from '../helpers/engine.js';

const body = makeBytes(300_000, 51);
const wrong = makeBytes(300_000, 52);
const path = '/v.safetensors';
const target = () => join(t.dir, 'v.safetensors');
const dest = () => ({ dir: t.dir, name: 'v.safetensors' });

const t = useFaultServer((server) => server.setFile(path, { body }));

describe('verified bytes', () => {
  it('marks a download whose bytes match the published SHA-256 (upper-case hex, as Civitai sends it) as verified', async () => {
    const { result } = await runDownload({ url: t.server.url(path), dest: dest(), expect: { sha256: sha256(body).toUpperCase(), size: body.length } });
    expect(result).toMatchObject({ status: 'done', verified: true });
  });

  it('hashes a resumed part once on resume and still verifies', async () => {
    t.server.script(path, { kind: 'reset-after', bytes: 120_000 });
    const { result } = await runDownload({ url: t.server.url(path), dest: dest(), expect: { sha256: sha256(body) } });
    expect(result).toMatchObject({ status: 'done', verified: true, retries: 1 });
    expect(t.server.requestsTo(path)[1]?.headers.range).toMatch(/^bytes=[1-9]\d*-$/);
  });

  it('verifies a part completed by a 416 before renaming it', async () => {
    await writeFile(`${target()}.part`, body);
    await writeFile(`${target()}.part.json`, JSON.stringify({ version: 1, url: t.server.url(path), etag: etagOf(body), total: body.length }));
    const { result } = await runDownload({ url: t.server.url(path), dest: dest(), expect: { sha256: sha256(body) } });
    expect(result).toMatchObject({ status: 'done', verified: true, bytesFetched: 0 });
  });

  it('discards a corrupt part, downloads once more from zero, and keeps the good bytes', async () => {
    // A complete-looking part with the wrong bytes: the 416 path finds the mismatch.
    await writeFile(`${target()}.part`, wrong);
    await writeFile(`${target()}.part.json`, JSON.stringify({ version: 1, url: t.server.url(path), etag: etagOf(body), total: body.length }));
    const { result, events } = await runDownload({ url: t.server.url(path), dest: dest(), expect: { sha256: sha256(body) } });
    expect(events.find((e) => e.type === 'retry')).toMatchObject({ code: 'hash-mismatch', delayMs: 0 });
    expect(result).toMatchObject({ status: 'done', verified: true });
    expect(t.server.requestsTo(path).map((r) => r.headers.range ?? null)).toEqual([`bytes=${body.length}-`, null]);
    expect(await fileSha(target())).toBe(sha256(body));
  });

  it('fails with hash-mismatch after one retry when the server keeps sending other bytes, leaving nothing behind', async () => {
    const { result } = await runDownload({ url: t.server.url(path), dest: dest(), expect: { sha256: sha256(wrong) } });
    expect(result).toMatchObject({ status: 'failed', attempts: 2, error: { code: 'hash-mismatch' } });
    expect(await readdir(t.dir)).toEqual([]);
  });

  it('refuses an answer far from the published size before writing a byte', async () => {
    const { result } = await runDownload({ url: t.server.url(path), dest: dest(), expect: { size: 2_000_000_000, sizeTolerance: 1024 } });
    expect(result).toMatchObject({ status: 'failed', error: { code: 'invalid-response' } });
    if (result.status === 'failed') expect(result.error.message).toMatch(/offers 300000 bytes.*2000000000/);
    expect(await readdir(t.dir)).toEqual([]);
  });

  it("lets the source veto an answer before anything is written, with the source's own error", async () => {
    t.server.setFile('/page', { body: Buffer.from('<html>log in</html>'), contentType: 'text/html' });
    const { result } = await runDownload({
      url: t.server.url('/page'),
      dest: { dir: t.dir, name: 'm.safetensors' },
      inspect: (r) => (r.headers['content-type']?.toString().startsWith('text/html') ? new DlrError('invalid-response', 'got an HTML page') : undefined),
    });
    expect(result).toMatchObject({ status: 'failed', error: { code: 'invalid-response', message: 'got an HTML page' } });
    expect(await readdir(t.dir)).toEqual([]);
  });
});
