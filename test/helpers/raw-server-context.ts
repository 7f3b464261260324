import type { Socket } from 'node:net';
import { afterEach, beforeEach } from 'vitest';
import { startRawServer, type RawRequest, type RawServer } from '../../fixtures/server/raw-server.js';
import { makeTempDir } from './temp-dir.js';

/** A temp dir per test, and a raw server that the test starts with its own script; both gone after it. */
export interface RawServerContext {
  readonly dir: string;
  start(respond: (socket: Socket, request: RawRequest, index: number) => void): Promise<RawServer>;
}

export function useRawServer(): RawServerContext {
  let tmp: { path: string; cleanup: () => Promise<void> } | undefined;
  let server: RawServer | undefined;
  beforeEach(async () => {
    tmp = await makeTempDir();
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await tmp?.cleanup();
  });
  return {
    get dir() {
      return tmp!.path;
    },
    async start(respond) {
      server = await startRawServer(respond);
      return server;
    },
  };
}
