import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { makeBytes, sha256 } from '../../fixtures/server/fault-server.js';
import { head } from '../../fixtures/server/raw-server.js';
import { createHttpClient } from '../../src/http/client.js';
import { resolvePolicy } from '../../src/options.js';
import { sendRequest } from '../../src/http/request.js';
import { useRawServer } from '../helpers/raw-server-context.js';

// Memory is bounded by backpressure, never by failing at a cap: a body that
// nobody reads holds its socket, the server's writes back up in the kernel,
// and every byte still arrives once the reader comes back.

const t = useRawServer();
const SIZE = 64 * 1024 * 1024;
const HIGH_WATER = 256 * 1024;

async function fetchUnread(close: boolean) {
  const body = makeBytes(SIZE, 42);
  let written = 0;
  let serverDone = false;
  const server = await t.start((socket) => {
    socket.write(head('200 OK', [`Content-Length: ${SIZE}`, ...(close ? ['Connection: close'] : [])]));
    // As fast as the socket takes it, in 1 MiB writes, like sendfile.
    let at = 0;
    const pump = () => {
      while (at < SIZE) {
        const chunk = body.subarray(at, at + 1024 * 1024);
        at += chunk.length;
        written = at;
        if (!socket.write(chunk)) return void socket.once('drain', pump);
      }
      serverDone = true;
      if (close) socket.end();
    };
    pump();
  });
  const client = createHttpClient({ policy: resolvePolicy({ connectTimeoutMs: 5_000, idleTimeoutMs: 20_000, maxRedirects: 0, responseBufferBytes: HIGH_WATER }) });
  try {
    const res = await sendRequest({ url: new URL(`${server.origin}/f.bin`), headers: {} }, client);
    // Nobody reads for a while: the server must be stopped by TCP, not by us failing.
    await delay(700);
    const waiting = res.body.readableLength;
    const writtenWhileUnread = written;
    const hash = createHash('sha256');
    let received = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      received += chunk.length;
    }
    return { waiting, writtenWhileUnread, serverDone, received, digest: hash.digest('hex'), expected: sha256(body) };
  } finally {
    await client.close();
  }
}

describe('backpressure on a body nobody reads yet', () => {
  for (const close of [false, true]) {
    it(`bounds what waits in memory and loses nothing${close ? ' (Connection: close, FIN while held)' : ''}`, async () => {
      const r = await fetchUnread(close);
      // At most the high-water mark plus one socket read waits in the body.
      expect(r.waiting).toBeGreaterThan(0);
      expect(r.waiting).toBeLessThanOrEqual(HIGH_WATER + 64 * 1024);
      // The server was held back: what it wrote is what the kernel buffers hold, far below 64 MiB.
      expect(r.writtenWhileUnread).toBeLessThan(SIZE / 2);
      expect(r.received).toBe(SIZE);
      expect(r.digest).toBe(r.expected);
    });
  }
});
