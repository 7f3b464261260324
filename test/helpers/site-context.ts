import { afterEach, beforeEach } from 'vitest';
import { startFaultServer, type FaultServer } from '../../fixtures/server/fault-server.js';
import { makeTempDir } from './temp-dir.js';

/** A site (Civitai's API or the Hub) and its CDN on two origins, plus a temp dir; fresh for every test. */
export interface SiteContext {
  readonly site: FaultServer;
  readonly cdn: FaultServer;
  readonly dir: string;
}

/** `install` puts the site's routes on the two servers (installCivitai, installHub). */
export function useSiteWithCdn(install: (site: FaultServer, cdn: FaultServer) => void): SiteContext {
  let site: FaultServer | undefined;
  let cdn: FaultServer | undefined;
  let tmp: { path: string; cleanup: () => Promise<void> } | undefined;
  beforeEach(async () => {
    site = await startFaultServer();
    cdn = await startFaultServer();
    tmp = await makeTempDir();
    install(site, cdn);
  });
  afterEach(async () => {
    await site?.close();
    await cdn?.close();
    await tmp?.cleanup();
  });
  return {
    get site() {
      return site!;
    },
    get cdn() {
      return cdn!;
    },
    get dir() {
      return tmp!.path;
    },
  };
}
