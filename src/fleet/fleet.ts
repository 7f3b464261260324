import { PartFile } from '../engine/part-file.js';
import { DlrError } from '../errors.js';
import type { EntryLeases } from '../batch/run-batch.js';
import { urlKey, type PlanEntry } from '../history/plan.js';
import type { MemoryLimiterOptions } from '../limiter/memory-limiter.js';
import type { RequestLimiter } from '../limiter/types.js';
import { openCoordinator, type Coordinator } from './coordinator.js';
import type { CoordinatorAddress } from './coordinator-url.js';
import { LeaseManager } from './leases.js';
import { RedisLimiter } from './redis-limiter.js';

/** What a run needs to join a fleet: `--coordinator` (or config/env) and the lease TTL. */
export interface FleetSettings {
  readonly address: CoordinatorAddress;
  readonly leaseTtlMs: number;
  /** This member's wall clock (tests skew it: DLR_TEST_CLOCK_OFFSET_MS); nothing shared depends on it. */
  readonly wallClock?: () => number;
}

/** One run's membership of a fleet: the coordinator, its shared limiter and its file leases. */
export interface Fleet {
  readonly coordinator: Coordinator;
  readonly leases: EntryLeases;
  /** The shared limiter, built from the options the in-process one would get. */
  limiter(options: Omit<MemoryLimiterOptions, 'learned'>): RequestLimiter;
  close(): Promise<void>;
}

/** Connects (a `locked` error, exit 75, when Redis cannot be reached) and joins. */
export async function joinFleet(settings: FleetSettings): Promise<Fleet> {
  const ttl = settings.leaseTtlMs;
  const coordinator = await openCoordinator(settings.address, {
    // A renewal stuck longer than a third of the TTL cannot keep the lease anyway.
    commandTimeoutMs: Math.max(1_000, Math.min(10_000, ttl / 3)),
  }).catch((error: DlrError) => {
    throw new DlrError(error.code, error.message.replace(/; try again later$/, '; nothing was fetched, try again later'), { cause: error });
  });
  const manager = new LeaseManager({ coordinator, ttlMs: ttl, ...(settings.wallClock ? { wallClock: settings.wallClock } : {}) });
  const leases: EntryLeases = {
    async take(entry: PlanEntry) {
      const destination = entry.path ?? entry.dir;
      const answer = await manager.take(fileKey(entry), destination, await recordedFence(entry.path));
      if ('busyForMs' in answer) return { busyForMs: answer.busyForMs };
      const lease = answer.granted;
      return { lease: { guard: lease, lost: () => lease.lost(), release: () => lease.release() } };
    },
  };
  return {
    coordinator,
    leases,
    limiter: (options) => new RedisLimiter({ ...options, coordinator, ...(settings.wallClock ? { now: settings.wallClock } : {}) }),
    async close() {
      await manager.releaseAll();
      await coordinator.close();
    },
  };
}

/**
 * What a lease is keyed by: the file's source (the history URL, normalized
 * as the planner dedupes it) and its destination (the planned path, or the
 * folder when the site names the file). Taken before the source is asked,
 * so a file another member holds costs this member no API request; members
 * with their own folders hold different leases and each fetch their copy.
 */
export function fileKey(entry: PlanEntry): string {
  return `${urlKey(entry.url)}\n${entry.path ?? entry.dir}`;
}

/** The fencing token the file's part sidecar records (0 = none), so a new grant is above it. */
async function recordedFence(path: string | undefined): Promise<number> {
  if (path === undefined) return 0;
  return (await new PartFile(path).readSidecar())?.fence ?? 0;
}
