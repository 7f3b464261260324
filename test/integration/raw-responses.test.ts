import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeBytes, sha256 } from '../../fixtures/server/fault-server.js';
import { head } from '../../fixtures/server/raw-server.js';
import { useRawServer } from '../helpers/raw-server-context.js';
import { fileSha, runDownload } from '../helpers/engine.js';

// Answers written byte by byte on a raw socket: a body and its connection's
// end arriving in one burst, before dlr has opened the part file. (The crash
// this once caused in undici only shows with the CLI in its own process: see
// test/e2e/connection-close.test.ts.) Here: the body is never lost or refused
// for arriving early, and what waits unread is bounded.

const t = useRawServer();

describe('answers that arrive with the end of the connection', () => {
  for (const size of [65_536, 80_000, 120_000]) {
    it(`saves a ${size}-byte body sent with Connection: close in one burst`, async () => {
      const body = makeBytes(size, size);
      const server = await t.start((socket) => {
        socket.end(Buffer.concat([Buffer.from(head('200 OK', [`Content-Length: ${size}`, 'Connection: close'])), body]));
      });
      const { result } = await runDownload({ url: `${server.origin}/f.bin`, dest: { dir: t.dir } });
      expect(result).toMatchObject({ status: 'done', size, attempts: 1 });
      expect(await fileSha(join(t.dir, 'f.bin'))).toBe(sha256(body));
    });
  }

  it('saves a keep-alive answer whose connection closes right after the body', async () => {
    const body = makeBytes(80_000, 3);
    const server = await t.start((socket) => {
      socket.end(Buffer.concat([Buffer.from(head('200 OK', [`Content-Length: ${body.length}`])), body]));
    });
    const { result } = await runDownload({ url: `${server.origin}/f.bin`, dest: { dir: t.dir } });
    expect(result).toMatchObject({ status: 'done', attempts: 1 });
    expect(await fileSha(join(t.dir, 'f.bin'))).toBe(sha256(body));
  });

  it('follows a redirect whose 64 KiB body arrives with the close', async () => {
    const body = makeBytes(100_000, 4);
    const server = await t.start((socket, request) => {
      if (request.line.startsWith('GET /start ')) {
        const page = Buffer.alloc(65_536, 'x');
        socket.end(Buffer.concat([Buffer.from(head('302 Found', ['Location: /f.bin', `Content-Length: ${page.length}`, 'Connection: close'])), page]));
      } else {
        socket.end(Buffer.concat([Buffer.from(head('200 OK', [`Content-Length: ${body.length}`, 'Connection: close'])), body]));
      }
    });
    const { result } = await runDownload({ url: `${server.origin}/start`, dest: { dir: t.dir, name: 'f.bin' } });
    expect(result).toMatchObject({ status: 'done', attempts: 1 });
    expect(await fileSha(join(t.dir, 'f.bin'))).toBe(sha256(body));
  });

  it('keeps the bytes of a body cut short before the part was open, and resumes after them', async () => {
    const body = makeBytes(200_000, 5);
    const etag = '"v1"';
    const server = await t.start((socket, request, index) => {
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
    const { result } = await runDownload({ url: `${server.origin}/f.bin`, dest: { dir: t.dir, name: 'f.bin' } });
    expect(result).toMatchObject({ status: 'done', attempts: 2 });
    expect(server.requests[1]?.headers.range).toBe('bytes=100000-');
    expect(server.requests[1]?.headers['if-range']).toBe(etag);
    expect(await fileSha(join(t.dir, 'f.bin'))).toBe(sha256(body));
  });

  it('holds the socket instead of dropping an answer that arrives faster than it is read', async () => {
    // 8 MiB in one burst with Connection: close, and only 1 KiB allowed to
    // wait unread: the old design failed this as a network error.
    const body = makeBytes(8 * 1024 * 1024, 6);
    const server = await t.start((socket) => {
      socket.end(Buffer.concat([Buffer.from(head('200 OK', [`Content-Length: ${body.length}`, 'Connection: close'])), body]));
    });
    const { result } = await runDownload(
      { url: `${server.origin}/f.bin`, dest: { dir: t.dir, name: 'f.bin' } },
      { policy: { responseBufferBytes: 1024, retryDelaysMs: [] } },
    );
    expect(result).toMatchObject({ status: 'done', attempts: 1, size: body.length });
    expect(await fileSha(join(t.dir, 'f.bin'))).toBe(sha256(body));
  });
});

describe('ranges of unknown total and 206s without validators', () => {
  /** Serves `body` at most `cap` bytes per answer as `bytes a-b/*`; 416 past the end. */
  function starServer(body: Buffer, cap: number, firstCutAt?: number) {
    return t.start((socket, request, index) => {
      if (index === 0 && firstCutAt !== undefined) {
        const fields = [`Content-Length: ${body.length}`, 'ETag: "v1"', 'Connection: close'];
        socket.end(Buffer.concat([Buffer.from(head('200 OK', fields)), body.subarray(0, firstCutAt)]));
        return;
      }
      const from = Number(/^bytes=(\d+)-$/.exec(request.headers.range ?? '')?.[1] ?? 0);
      if (from >= body.length) {
        socket.end(head('416 Range Not Satisfiable', ['Content-Length: 0', 'Connection: close']));
        return;
      }
      const slice = body.subarray(from, Math.min(body.length, from + cap));
      const fields = [`Content-Length: ${slice.length}`, `Content-Range: bytes ${from}-${from + slice.length - 1}/*`, 'ETag: "v1"', 'Connection: close'];
      socket.end(Buffer.concat([Buffer.from(head('206 Partial Content', fields)), slice]));
    });
  }

  it('does not take a bytes a-b/* answer for the end of a file whose size it knows', async () => {
    const body = makeBytes(100_000, 8);
    const server = await starServer(body, 30_000, 30_000);
    const { result } = await runDownload({ url: `${server.origin}/f.bin`, dest: { dir: t.dir, name: 'f.bin' } });
    expect(result).toMatchObject({ status: 'done', size: body.length });
    expect(server.requests.map((r) => r.headers.range ?? null)).toEqual([null, 'bytes=30000-', 'bytes=60000-', 'bytes=90000-']);
    expect(await fileSha(join(t.dir, 'f.bin'))).toBe(sha256(body));
  });

  it('asks past a bytes a-b/* answer when no size is known, until the server says there is no more', async () => {
    const body = makeBytes(70_000, 9);
    const server = await starServer(body, 30_000);
    const { result } = await runDownload({ url: `${server.origin}/f.bin`, dest: { dir: t.dir, name: 'f.bin' } });
    expect(result).toMatchObject({ status: 'done', size: body.length });
    expect(server.requests.at(-1)?.headers).toMatchObject({ range: 'bytes=70000-', 'if-range': '"v1"' });
    expect(await fileSha(join(t.dir, 'f.bin'))).toBe(sha256(body));
  });

  it('starts over, never splicing, when a server ignoring If-Range sends a 206 without the ETag', async () => {
    const v1 = makeBytes(100_000, 10);
    const v2 = makeBytes(100_000, 11);
    const server = await t.start((socket, request, index) => {
      if (index === 0) {
        const fields = [`Content-Length: ${v1.length}`, 'ETag: "v1"', 'Connection: close'];
        socket.end(Buffer.concat([Buffer.from(head('200 OK', fields)), v1.subarray(0, 40_000)]));
        return;
      }
      const from = Number(/^bytes=(\d+)-$/.exec(request.headers.range ?? '')?.[1] ?? 0);
      const status = from > 0 ? '206 Partial Content' : '200 OK';
      const fields = [`Content-Length: ${v2.length - from}`, 'Connection: close'];
      if (from > 0) fields.push(`Content-Range: bytes ${from}-${v2.length - 1}/${v2.length}`);
      socket.end(Buffer.concat([Buffer.from(head(status, fields)), v2.subarray(from)]));
    });
    const { result, events } = await runDownload({ url: `${server.origin}/f.bin`, dest: { dir: t.dir, name: 'f.bin' } });
    expect(result).toMatchObject({ status: 'done', size: v2.length });
    expect(events.some((e) => e.type === 'restart')).toBe(true);
    expect(await fileSha(join(t.dir, 'f.bin'))).toBe(sha256(v2));
  });

  it('gives up on a server that sends the same start over and over, then refuses the rest', async () => {
    const body = makeBytes(50_000, 12);
    const server = await t.start((socket, request) => {
      if (request.headers.range !== undefined) {
        socket.end(head('416 Range Not Satisfiable', ['Content-Range: bytes */999999', 'Content-Length: 0', 'Connection: close']));
        return;
      }
      const fields = ['Content-Length: 20000', 'Content-Range: bytes 0-19999/*', 'ETag: "v1"', 'Connection: close'];
      socket.end(Buffer.concat([Buffer.from(head('206 Partial Content', fields)), body.subarray(0, 20_000)]));
    });
    const { result } = await runDownload({ url: `${server.origin}/f.bin`, dest: { dir: t.dir, name: 'f.bin' } });
    expect(result).toMatchObject({ status: 'failed', error: { code: 'invalid-response' } });
    expect(server.requests.length).toBeLessThan(12);
    expect(await readdir(t.dir)).not.toContain('f.bin');
  });
});

describe('answers that break the rules', () => {
  it('follows a Location sent as raw UTF-8 bytes to the URL it names, encoded once', async () => {
    const body = makeBytes(10_000, 13);
    const server = await t.start((socket, request) => {
      if (request.line.startsWith('GET /start ')) {
        socket.end(Buffer.concat([Buffer.from('HTTP/1.1 302 Found\r\nLocation: /'), Buffer.from('café.bin', 'utf8'), Buffer.from('\r\nContent-Length: 0\r\n\r\n')]));
      } else if (request.line.startsWith('GET /caf%C3%A9.bin ')) {
        socket.end(Buffer.concat([Buffer.from(head('200 OK', [`Content-Length: ${body.length}`])), body]));
      } else {
        socket.end(head('404 Not Found', ['Content-Length: 0']));
      }
    });
    const { result } = await runDownload({ url: `${server.origin}/start`, dest: { dir: t.dir, name: 'f.bin' } });
    expect(result).toMatchObject({ status: 'done', size: body.length });
    expect(server.requests.map((r) => r.line.split(' ')[1])).toEqual(['/start', '/caf%C3%A9.bin']);
    expect(await fileSha(join(t.dir, 'f.bin'))).toBe(sha256(body));
  });

  it('reports an answer that is not HTTP as a retryable network failure, not as a dlr bug', async () => {
    const server = await t.start((socket) => {
      socket.end('SSH-2.0-OpenSSH_9.6\r\n\r\n');
    });
    const { result } = await runDownload({ url: `${server.origin}/f.bin`, dest: { dir: t.dir } }, { policy: { retryDelaysMs: [1] } });
    expect(result).toMatchObject({ status: 'failed', attempts: 2, error: { code: 'network' } });
    expect(result.status === 'failed' && result.error.message).toMatch(/not valid HTTP\/1\.1/);
  });

  it('fails a 204 No Content instead of saving an empty model file', async () => {
    const server = await t.start((socket) => {
      socket.end(head('204 No Content', ['Connection: close']));
    });
    const { result } = await runDownload({ url: `${server.origin}/f.bin`, dest: { dir: t.dir, name: 'f.bin' } });
    expect(result).toMatchObject({ status: 'failed', error: { code: 'invalid-response' } });
    expect(await readdir(t.dir)).toEqual([]);
  });
});

