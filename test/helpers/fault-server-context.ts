import { afterEach, beforeEach } from 'vitest';
import { startFaultServer, type FaultServer } from '../../fixtures/server/fault-server.js';
import { makeTempDir } from './temp-dir.js';

/** A fresh fault server and temp dir for every test of the calling file, stopped and removed after it. */
export interface FaultServerContext {
  readonly server: FaultServer;
  /** The temp dir's path. */
  readonly dir: string;
}

export function useFaultServer(setup?: (server: FaultServer) => void): FaultServerContext {
  let server: FaultServer | undefined;
  let tmp: { path: string; cleanup: () => Promise<void> } | undefined;
  beforeEach(async () => {
    server = await startFaultServer();
    tmp = await makeTempDir();
    setup?.(server);
  });
  afterEach(async () => {
    await server?.close();
    await tmp?.cleanup();
  });
  return {
    get server() {
      return server!;
    },
    get dir() {
      return tmp!.path;
    },
  };
}
