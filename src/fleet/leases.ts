import { randomBytes } from 'node:crypto';
import { DlrError } from '../errors.js';
import type { WriteGuard } from '../engine/types.js';
import type { Coordinator } from './coordinator.js';
import { FENCE_KEY, leaseKey } from './keys.js';
import { ACQUIRE, RELEASE, RENEW } from './scripts.js';

/**
 * Per-file leases for a fleet (see the README's "Running a fleet"). This is
 * an efficiency lock in Kleppmann's sense — its job is that a file is fetched
 * once, not that two writers can never meet — made safe to lose:
 * - one Redis, `SET NX PX` and a token, renewed every ttl/3, released by
 *   compare-and-delete (never another holder's lease);
 * - a fencing token from one `INCR` counter with every grant, written into
 *   the part's sidecar, so the newest holder is visible on the shared disk;
 * - the holder trusts its lease only until `sent + 0.9 × ttl` by its own
 *   monotonic clock, where `sent` is when it asked for the grant or the last
 *   renewal that succeeded: the lease in Redis cannot expire before that, so
 *   a member paused past its lease (GC, SIGSTOP, a partition) sees it has
 *   lapsed before its next write batch, and writes nothing more;
 * - before the final rename it asks Redis again (WriteGuard.beforeCommit).
 */
export interface Lease extends WriteGuard {
  readonly key: string;
  /** True once the lease is known lost (renewal refused, or it lapsed locally). */
  lost(): boolean;
  /** Compare-and-delete; stops renewing. Idempotent, never throws. */
  release(): Promise<void>;
}

export type LeaseAnswer = { readonly granted: Lease } | { readonly busyForMs: number; readonly holder: string };

export interface LeaseManagerOptions {
  readonly coordinator: Coordinator;
  readonly ttlMs: number;
  /** This member's wall clock, for the `since` shown by `fleet status` (tests skew it). */
  readonly wallClock?: () => number;
}

/** Lease validity is trusted for this share of the TTL: room for clock rate drift and the grant's own trip. */
const TRUSTED_SHARE = 0.9;

export class LeaseManager {
  readonly #options: LeaseManagerOptions;
  readonly #held = new Set<HeldLease>();

  constructor(options: LeaseManagerOptions) {
    this.#options = options;
  }

  /**
   * Tries to take the lease on `fileKey`. `label` is what `fleet status`
   * shows (a path); `floor` is the highest fencing token already recorded
   * for the file on disk (its sidecar), so a grant is always above it.
   */
  async take(fileKey: string, label: string, floor = 0): Promise<LeaseAnswer> {
    const { coordinator, ttlMs } = this.#options;
    const key = leaseKey(fileKey);
    const token = randomBytes(12).toString('hex');
    const info = JSON.stringify({ member: coordinator.member, file: label, since: new Date((this.#options.wallClock ?? Date.now)()).toISOString() });
    const sent = performance.now();
    const reply = (await coordinator.run(ACQUIRE, [key, FENCE_KEY], [token, Math.ceil(ttlMs), info, Math.max(0, Math.floor(floor))])) as unknown[];
    if (Number(reply[0]) !== 1) {
      return { busyForMs: Math.max(0, Number(reply[1])), holder: holderOf(String(reply[2] ?? '')) };
    }
    const lease = new HeldLease(key, token, Number(reply[1]), sent, this.#options, () => this.#held.delete(lease));
    this.#held.add(lease);
    return { granted: lease };
  }

  /** Releases what is still held (the run is ending). */
  async releaseAll(): Promise<void> {
    await Promise.all([...this.#held].map((lease) => lease.release()));
  }
}

class HeldLease implements Lease {
  readonly key: string;
  readonly fence: number;
  readonly #token: string;
  readonly #options: LeaseManagerOptions;
  readonly #onRelease: () => void;
  #trustedUntil: number;
  #lost = false;
  #released = false;
  readonly #timer: NodeJS.Timeout;

  constructor(key: string, token: string, fence: number, sent: number, options: LeaseManagerOptions, onRelease: () => void) {
    this.key = key;
    this.#token = token;
    this.fence = fence;
    this.#options = options;
    this.#onRelease = onRelease;
    this.#trustedUntil = sent + options.ttlMs * TRUSTED_SHARE;
    this.#timer = setInterval(() => void this.#renew(), Math.max(50, options.ttlMs / 3));
    // The renewals must not keep a finished process alive.
    this.#timer.unref();
  }

  stillOwner(): boolean {
    if (this.#lost || this.#released || this.#options.coordinator.lost.aborted) return false;
    if (performance.now() >= this.#trustedUntil) {
      this.#lost = true;
      return false;
    }
    return true;
  }

  lost(): boolean {
    return !this.stillOwner() && !this.#released;
  }

  async beforeCommit(): Promise<void> {
    if (!(await this.#renew()) || !this.stillOwner()) {
      throw new DlrError('locked', 'the fleet lease lapsed before the rename; another dlr member may own the file now', { retryable: false });
    }
  }

  /** One renewal; true when Redis confirmed the lease is still ours. */
  async #renew(): Promise<boolean> {
    if (this.#lost || this.#released) return false;
    const sent = performance.now();
    let reply: unknown;
    try {
      reply = await this.#options.coordinator.run(RENEW, [this.key], [this.#token, Math.ceil(this.#options.ttlMs)]);
    } catch {
      // The coordinator is lost (its signal stops the run); the lease lapses by the clock.
      return false;
    }
    if (Number(reply) !== 1) {
      this.#lost = true;
      return false;
    }
    this.#trustedUntil = Math.max(this.#trustedUntil, sent + this.#options.ttlMs * TRUSTED_SHARE);
    return true;
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    clearInterval(this.#timer);
    this.#onRelease();
    if (this.#options.coordinator.lost.aborted) return;
    await this.#options.coordinator.run(RELEASE, [this.key], [this.#token]).catch(() => undefined);
  }
}

/** The holder's member name from a lease value (`token|fence|{json}`), for messages. */
export function holderOf(value: string): string {
  const json = value.split('|').slice(2).join('|');
  try {
    const info = JSON.parse(json) as { member?: unknown };
    return typeof info.member === 'string' ? info.member : 'another member';
  } catch {
    return 'another member';
  }
}

/** Parses a lease value for `fleet status`. */
export function parseLeaseValue(value: string): { fence: number; member: string; file: string; since: string } | undefined {
  const [, fence, ...rest] = value.split('|');
  try {
    const info = JSON.parse(rest.join('|')) as { member?: unknown; file?: unknown; since?: unknown };
    return {
      fence: Number(fence),
      member: String(info.member ?? '?'),
      file: String(info.file ?? '?'),
      since: String(info.since ?? '?'),
    };
  } catch {
    return undefined;
  }
}
