import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeBytes, sha256 } from '../../fixtures/server/fault-server.js';
import { head } from '../../fixtures/server/raw-server.js';
import { useRawServer } from '../helpers/raw-server-context.js';
import { fileSha } from '../helpers/engine.js';
import { FAST, runCli } from '../helpers/cli.js';

// The CLI in its own process, where the body and the FIN of a small answer
// reach undici in one read, before the part file is open: undici 7.30 used to
// assert there (nodejs/undici#5360) and the process died with a stack trace.

const t = useRawServer();

describe('dlr download of an answer that ends with its connection', () => {
  it('saves 64 KiB to 128 KiB bodies sent with Connection: close, byte-exact', async () => {
    const bodies = new Map([65_536, 80_000, 120_000].map((size) => [`/f${size}.bin`, makeBytes(size, size)]));
    const server = await t.start((socket, request) => {
      const body = bodies.get(request.line.split(' ')[1] ?? '') ?? Buffer.alloc(0);
      socket.end(Buffer.concat([Buffer.from(head('200 OK', [`Content-Length: ${body.length}`, 'Connection: close'])), body]));
    });
    for (const [path, body] of bodies) {
      const run = await runCli(['download', `${server.origin}${path}`, '--dir', t.dir, '--quiet', ...FAST]);
      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
      expect(await fileSha(join(t.dir, path.slice(1)))).toBe(sha256(body));
    }
  });
});
