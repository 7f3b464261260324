import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PartWriter } from '../../src/engine/part-file.js';
import { openCoordinator, type Coordinator } from '../../src/fleet/coordinator.js';
import { parseCoordinatorUrl } from '../../src/fleet/coordinator-url.js';
import { LeaseManager } from '../../src/fleet/leases.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { REDIS_SERVER, startRedis, type Redis } from './redis-server.js';

/** Blocks the event loop, as a GC pause or SIGSTOP would: no renewal can run meanwhile. */
function freeze(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}


describe.skipIf(REDIS_SERVER === undefined)('file leases and fencing (real redis-server)', () => {
  let redis: Redis;
  let a: Coordinator;
  let b: Coordinator;

  beforeAll(async () => {
    redis = await startRedis();
    a = await openCoordinator(parseCoordinatorUrl(redis.url, 'test'));
    b = await openCoordinator(parseCoordinatorUrl(redis.url, 'test'));
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await redis.stop();
  });

  it('one holder at a time; compare-and-delete release; every grant a higher fencing token, above what a sidecar recorded', async () => {
    const ma = new LeaseManager({ coordinator: a, ttlMs: 5_000 });
    const mb = new LeaseManager({ coordinator: b, ttlMs: 5_000 });
    const first = await ma.take('file-1', '/models/x');
    if (!('granted' in first)) throw new Error('not granted');
    const busy = await mb.take('file-1', '/models/x');
    expect('busyForMs' in busy && busy.busyForMs > 4_000 && busy.holder === a.member).toBe(true);
    await first.granted.release();
    const second = await mb.take('file-1', '/models/x');
    if (!('granted' in second)) throw new Error('not granted');
    expect(second.granted.fence).toBeGreaterThan(first.granted.fence);
    // A late release by the first holder must not remove the second's lease.
    await first.granted.release();
    expect('busyForMs' in (await ma.take('file-1', '/models/x'))).toBe(true);
    await second.granted.release();
    const floored = await ma.take('file-2', '/models/y', second.granted.fence + 100);
    if (!('granted' in floored)) throw new Error('not granted');
    expect(floored.granted.fence).toBe(second.granted.fence + 101);
    await floored.granted.release();
  });

  it('a holder frozen past its TTL knows it lost the lease before its next write, and cannot commit', async () => {
    const ttlMs = 1_000;
    const ma = new LeaseManager({ coordinator: a, ttlMs });
    const mb = new LeaseManager({ coordinator: b, ttlMs });
    const taken = await ma.take('file-3', '/models/z');
    if (!('granted' in taken)) throw new Error('not granted');
    const lease = taken.granted;
    expect(lease.stillOwner()).toBe(true);
    freeze(ttlMs + 200);
    // Redis let the lease expire meanwhile: another member takes it, with a higher token.
    const other = await mb.take('file-3', '/models/z');
    if (!('granted' in other)) throw new Error('not granted');
    expect(other.granted.fence).toBeGreaterThan(lease.fence);
    expect(lease.stillOwner()).toBe(false);
    await expect(lease.beforeCommit()).rejects.toMatchObject({ code: 'locked' });
    await other.granted.beforeCommit();
    await lease.release();
    await other.granted.release();
  });

  it('the part writer stops at the first write batch after the lease lapsed', async () => {
    const tmp = await makeTempDir();
    try {
      const path = join(tmp.path, 'x.part');
      const handle = await open(path, 'w');
      let owner = true;
      const writer = new PartWriter(handle, path, { batchBytes: 4, syncEveryBytes: 0, stillOwner: () => owner });
      writer.write(Buffer.from('abcd'));
      owner = false;
      expect(() => writer.write(Buffer.from('efgh'))).toThrow(/lease/);
      await handle.close();
      expect(await readFile(path, 'utf8')).toBe('abcd');
    } finally {
      await tmp.cleanup();
    }
  });
});
