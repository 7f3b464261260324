import { createHash } from 'node:crypto';

/**
 * Every key dlr keeps in Redis starts with `dlr:`, so a shared Redis can be
 * inspected (`redis-cli --scan --pattern 'dlr:*'`) or cleaned apart from
 * other users' data. Origins and files are hashed into the key (an origin or
 * a path may hold any character); the readable name is in the value or in
 * the `dlr:origins` hash.
 */
export const ORIGINS_KEY = 'dlr:origins';
/** The one fencing counter: every lease grant takes the next number. */
export const FENCE_KEY = 'dlr:fence';
export const LEASE_PREFIX = 'dlr:lease:';

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

export interface OriginKeys {
  /** GCRA theoretical arrival time (Redis ms). */
  readonly tat: string;
  /** Paused until (Redis ms). */
  readonly pause: string;
  /** Learned requests per minute after a 429. */
  readonly learned: string;
  /** No further rate cut before (Redis ms). */
  readonly hold: string;
}

export function originKeys(origin: string): OriginKeys {
  const base = `dlr:origin:${digest(origin)}`;
  return { tat: `${base}:tat`, pause: `${base}:pause`, learned: `${base}:learned`, hold: `${base}:hold` };
}

/** The field of `dlr:origins` that names an origin, for `fleet status`. */
export function originField(origin: string): string {
  return digest(origin);
}

export function leaseKey(fileKey: string): string {
  return `${LEASE_PREFIX}${digest(fileKey)}`;
}
