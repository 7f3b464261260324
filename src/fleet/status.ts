import type { Coordinator } from './coordinator.js';
import { FENCE_KEY, LEASE_PREFIX, originKeys, ORIGINS_KEY } from './keys.js';
import { parseLeaseValue } from './leases.js';
import { CLOCK } from './scripts.js';

/** What `dlr fleet status` shows: Redis's view of the fleet at one moment (its clock). */
export interface FleetStatus {
  readonly coordinator: string;
  /** Redis's clock (ms since the epoch). */
  readonly now: number;
  /** The last fencing token given out. */
  readonly fence: number;
  readonly leases: readonly LeaseStatus[];
  /** More leases exist than were listed. */
  readonly leasesCut: boolean;
  readonly origins: readonly OriginStatus[];
}

export interface LeaseStatus {
  readonly member: string;
  readonly file: string;
  readonly fence: number;
  /** When the holder took it, by the holder's clock. */
  readonly since: string;
  readonly expiresInMs: number;
}

export interface OriginStatus {
  readonly origin: string;
  readonly requestsPerMinute: number;
  readonly burst: number;
  /** The fleet's learned rate after 429s, if any. */
  readonly learnedRequestsPerMinute: number | undefined;
  /** How long the origin stays paused (0 = not paused). */
  readonly pausedForMs: number;
  /** How far ahead of now the budget is booked (0 = a burst is available). */
  readonly bookedAheadMs: number;
}

/** Leases listed at most: a status for an operator, not a dump. */
const MAX_LEASES = 1_000;
const MAX_ORIGINS = 1_000;

export async function fleetStatus(coordinator: Coordinator): Promise<FleetStatus> {
  const now = Number(await coordinator.run(CLOCK, [], []));
  const fence = Number((await coordinator.command(['GET', FENCE_KEY])) ?? 0);
  const leases: LeaseStatus[] = [];
  let cursor = '0';
  let leasesCut = false;
  do {
    const [next, keys] = (await coordinator.command(['SCAN', cursor, 'MATCH', `${LEASE_PREFIX}*`, 'COUNT', '500'])) as [string, string[]];
    cursor = String(next);
    for (const key of keys) {
      if (leases.length >= MAX_LEASES) {
        leasesCut = true;
        break;
      }
      const value = (await coordinator.command(['GET', key])) as string | null;
      const ttl = Number(await coordinator.command(['PTTL', key]));
      const parsed = value === null ? undefined : parseLeaseValue(String(value));
      if (parsed !== undefined && ttl > 0) leases.push({ ...parsed, expiresInMs: ttl });
    }
  } while (cursor !== '0' && !leasesCut);
  leases.sort((a, b) => a.file.localeCompare(b.file));

  const origins: OriginStatus[] = [];
  const described = ((await coordinator.command(['HVALS', ORIGINS_KEY])) as string[]).slice(0, MAX_ORIGINS);
  for (const text of described) {
    let info: { origin?: unknown; requests_per_minute?: unknown; burst?: unknown };
    try {
      info = JSON.parse(String(text)) as typeof info;
    } catch {
      continue;
    }
    if (typeof info.origin !== 'string') continue;
    const keys = originKeys(info.origin);
    const [tat, pause, learned] = (await Promise.all([keys.tat, keys.pause, keys.learned].map((k) => coordinator.command(['GET', k])))).map((v) =>
      v === null || v === undefined ? undefined : Number(v),
    );
    const rpm = Number(info.requests_per_minute) || 0;
    const burst = Number(info.burst) || 0;
    const effective = learned ?? rpm;
    const interval = effective > 0 ? 60_000 / effective : 0;
    const allowance = Math.max(1, learned !== undefined ? 1 : burst) * interval;
    origins.push({
      origin: info.origin,
      requestsPerMinute: rpm,
      burst,
      learnedRequestsPerMinute: learned,
      pausedForMs: Math.max(0, (pause ?? 0) - now),
      bookedAheadMs: Math.max(0, (tat ?? 0) - now - allowance + interval),
    });
  }
  origins.sort((a, b) => a.origin.localeCompare(b.origin));
  return { coordinator: coordinator.address.shown, now, fence, leases, leasesCut, origins };
}
