import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeBytes, sha256, startFaultServer, type FaultServer } from '../../fixtures/server/fault-server.js';
import { installHub, type FakeHubFile } from '../../fixtures/server/huggingface.js';
import { runCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { REDIS_SERVER, startRedis, type Redis } from './redis-server.js';

// Seed 000: several containers start together and each pulls the same Hub
// model; the Hub answers 429. With one coordinator they share one budget.

const COMMIT = '9a8b7c6d5e4f30211203f4e5d6c7b8a9f0e1d2c3';
const FILES: FakeHubFile[] = Array.from({ length: 6 }, (_, i) => ({ path: `onnx/part${i}.onnx`, body: makeBytes(20_000, 60 + i), lfs: true }));

describe.skipIf(REDIS_SERVER === undefined)('dlr pull in a fleet (seed 000)', () => {
  let hub: FaultServer;
  let cdn: FaultServer;
  let redis: Redis;
  let root: { path: string; cleanup: () => Promise<void> };

  beforeEach(async () => {
    [hub, cdn] = await Promise.all([startFaultServer(), startFaultServer()]);
    installHub(hub, cdn, [{ repo: 'org/embedder', commit: COMMIT, files: FILES }], 'hf_unused');
    redis = await startRedis();
    root = await makeTempDir('dlr-pull-storm-');
    await mkdir(join(root.path, 'home'));
  });

  afterEach(async () => {
    await redis.stop();
    await Promise.all([hub.close(), cdn.close()]);
    await root.cleanup();
  });

  const containers = (coordinator: boolean) =>
    Promise.all(
      [0, 1, 2].map((i) =>
        runCli(['pull', 'hf:org/embedder', '--dir', `c${i}`, '--lock', `c${i}.lock.json`, '--retry-delays', '0.05,0.05,0.05,0.05,0.05,0.05', '--timeout', '5'], {
          cwd: root.path,
          env: {
            HOME: join(root.path, 'home'),
            HF_ENDPOINT: hub.origin,
            ...(coordinator ? { DLR_COORDINATOR: redis.url } : {}),
          },
          timeoutMs: 60_000,
        }),
      ),
    );

  it('three containers pulling one model at once get no 429 from the hub when they share a coordinator', async () => {
    // The hub's own limit: 8 a second after a burst of 4. Its stand-in's budget for dlr: the config's.
    hub.rateLimit({ perSecond: 8, burst: 4, retryAfterSec: 1 });
    await writeFile(join(root.path, 'dlr.config.json'), JSON.stringify({ origins: { [hub.origin]: { requests_per_minute: 240, burst: 2 } } }));
    const runs = await containers(true);
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    expect(hub.requests.filter((r) => r.status === 429)).toEqual([]);
    for (const i of [0, 1, 2]) {
      for (const f of FILES) expect(sha256(await readFile(join(root.path, `c${i}`, f.path)))).toBe(sha256(f.body));
    }
  });

  it('without the coordinator the same start-up storm draws 429s (the test can fail)', async () => {
    hub.rateLimit({ perSecond: 8, burst: 4, retryAfterSec: 1 });
    await writeFile(join(root.path, 'dlr.config.json'), JSON.stringify({ origins: { [hub.origin]: { requests_per_minute: 240, burst: 2 } } }));
    await containers(false);
    expect(hub.requests.filter((r) => r.status === 429).length).toBeGreaterThan(0);
  });
});
