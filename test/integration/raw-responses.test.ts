import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeBytes, sha256 } from '../../fixtures/server/fault-server.js';
import { head, startRawServer, type RawServer } from '../../fixtures/server/raw-server.js';
import { fileSha, runDownload } from '../helpers/engine.js';
import { makeTempDir } from '../helpers/temp-dir.js';

// Answers written byte by byte on a raw socket: a body and its connection's
// end arriving in one burst, before dlr has opened the part file. (The crash
// this once caused in undici only shows with the CLI in its own process: see
// test/e2e/connection-close.test.ts.) Here: the body is never lost or refused
// for arriving early, and what waits unread is bounded.

let tmp: { path: string; cleanup: () => Promise<void> };
let server: RawServer | undefined;
beforeEach(async () => {
  tmp = await makeTempDir();
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  await tmp.cleanup();
});

describe('answers that arrive with the end of the connection', () => {
  for (const size of [65_536, 80_000, 120_000]) {
    it(`saves a ${size}-byte body sent with Connection: close in one burst`, async () => {
      const body = makeBytes(size, size);
      server = await startRawServer((socket) => {
        socket.end(Buffer.concat([Buffer.from(head('200 OK', [`Content-Length: ${size}`, 'Connection: close'])), body]));
      });
      const { result } = await runDownload({ url: `${server.origin}/f.bin`, dest: { dir: tmp.path } });
      expect(result).toMatchObject({ status: 'done', size, attempts: 1 });
      expect(await fileSha(join(tmp.path, 'f.bin'))).toBe(sha256(body));
    });
  }

  it('saves a keep-alive answer whose connection closes right after the body', async () => {
    const body = makeBytes(80_000, 3);
    server = await startRawServer((socket) => {
      socket.end(Buffer.concat([Buffer.from(head('200 OK', [`Content-Length: ${body.length}`])), body]));
    });
    const { result } = await runDownload({ url: `${server.origin}/f.bin`, dest: { dir: tmp.path } });
    expect(result).toMatchObject({ status: 'done', attempts: 1 });
    expect(await fileSha(join(tmp.path, 'f.bin'))).toBe(sha256(body));
  });

  it('follows a redirect whose 64 KiB body arrives with the close', async () => {
    const body = makeBytes(100_000, 4);
    server = await startRawServer((socket, request) => {
      if (request.line.startsWith('GET /start ')) {
        const page = Buffer.alloc(65_536, 'x');
        socket.end(Buffer.concat([Buffer.from(head('302 Found', ['Location: /f.bin', `Content-Length: ${page.length}`, 'Connection: close'])), page]));
      } else {
        socket.end(Buffer.concat([Buffer.from(head('200 OK', [`Content-Length: ${body.length}`, 'Connection: close'])), body]));
      }
    });
    const { result } = await runDownload({ url: `${server.origin}/start`, dest: { dir: tmp.path, name: 'f.bin' } });
    expect(result).toMatchObject({ status: 'done', attempts: 1 });
    expect(await fileSha(join(tmp.path, 'f.bin'))).toBe(sha256(body));
  });

  it('keeps the bytes of a body cut short before the part was open, and resumes after them', async () => {
    const body = makeBytes(200_000, 5);
    const etag = '"v1"';
    server = await startRawServer((socket, request, index) => {
      if (index === 0) {
        // Promises 200,000 bytes, sends half, closes.
        const fields = [`Content-Length: ${body.length}`, `ETag: ${etag}`, 'Connection: close'];
        socket.end(Buffer.concat([Buffer.from(head('200 OK', fields)), body.subarray(0, 100_000)]));
        return;
      }
      const from = Number(/^bytes=(\d+)-$/.exec(request.headers.range ?? '')?.[1] ?? 0);
      const fields = [`Content-Length: ${body.length - from}`, `Content-Range: bytes ${from}-${body.length - 1}/${body.length}`, `ETag: ${etag}`];
      socket.end(Buffer.concat([Buffer.from(head('206 Partial Content', fields)), body.subarray(from)]));
    });
    const { result } = await runDownload({ url: `${server.origin}/f.bin`, dest: { dir: tmp.path, name: 'f.bin' } });
    expect(result).toMatchObject({ status: 'done', attempts: 2 });
    expect(server.requests[1]?.headers.range).toBe('bytes=100000-');
    expect(server.requests[1]?.headers['if-range']).toBe(etag);
    expect(await fileSha(join(tmp.path, 'f.bin'))).toBe(sha256(body));
  });

  it('drops an answer that piles up unread past responseBufferBytes, as a network failure', async () => {
    const body = makeBytes(65_536, 6);
    server = await startRawServer((socket) => {
      socket.end(Buffer.concat([Buffer.from(head('200 OK', [`Content-Length: ${body.length}`, 'Connection: close'])), body]));
    });
    const { result } = await runDownload(
      { url: `${server.origin}/f.bin`, dest: { dir: tmp.path, name: 'f.bin' } },
      { policy: { responseBufferBytes: 1024, retryDelaysMs: [1] } },
    );
    expect(result).toMatchObject({ status: 'failed', attempts: 2, error: { code: 'network' } });
    expect(result.status === 'failed' && result.error.message).toMatch(/faster than it was read/);
    expect(await readdir(tmp.path)).not.toContain('f.bin');
    await expect(readFile(join(tmp.path, 'f.bin'))).rejects.toThrow();
  });
});
