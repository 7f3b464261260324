import { DlrError } from '../errors.js';
import { serverWaitMs, type HeaderMap } from '../http/status-error.js';
import { sleep } from '../util/sleep.js';
import { gcraReserve, perMinute, perSecondBytes, type GcraParams } from './gcra.js';
import { Semaphore } from './semaphore.js';
import { reportOrigins, type BudgetFor, type OriginStats, type RequestLimiter, type RequestPermit } from './types.js';
import { isUnreachable } from './unreachable.js';

export interface MemoryLimiterOptions {
  readonly budgetFor: BudgetFor;
  /** The run's `--limit-rate` in bytes per second, across all origins; 0 = none. */
  readonly limitRateBytesPerSec?: number;
  /** Pause after a 429/503 that names no wait (the first retry delay). */
  readonly pauseWithoutHeaderMs: number;
  /** A server wait longer than this is cut to it (the file that got it fails; see maxRetryAfterMs). */
  readonly maxPauseMs: number;
  /** The retry schedule of an unreachable origin (the policy's retry_delays). */
  readonly unreachableDelaysMs: readonly number[];
  /** Rates learned by earlier runs (origin → requests per minute), from the state file. */
  readonly learned?: Readonly<Record<string, number>>;
  /** Told when an origin is paused or given up, for the reporters. */
  readonly onOriginEvent?: (event: OriginEvent) => void;
  /** For tests: the clock (ms) and the source of jitter in [0, 1). */
  readonly now?: () => number;
  readonly random?: () => number;
}

export type OriginEvent =
  | { readonly type: 'origin-pause'; readonly origin: string; readonly ms: number; readonly status: number }
  | { readonly type: 'origin-down'; readonly origin: string; readonly retryInMs: number; readonly code: string; readonly message: string }
  | { readonly type: 'origin-dead'; readonly origin: string; readonly code: string; readonly message: string };

/** The lowest learned rate: one request a minute still makes progress. */
const MIN_LEARNED_RPM = 1;
/** An unlimited origin whose learned rate climbs past this is unlimited again. */
const UNLIMITED_RECOVERY_RPM = 600;
/** A name that does not resolve is retried once, this soon, not on the whole schedule. */
const DNS_RETRY_MS = 2_000;

interface Down {
  readonly error: DlrError;
  readonly schedule: readonly number[];
  step: number;
  retryAt: number;
  probing: boolean;
}

class OriginState {
  readonly slots: Semaphore;
  tat = 0;
  pausedUntil = 0;
  byteTat = 0;
  learnedRpm: number | undefined;
  /** No further decrease before this (ms): see #answered. */
  decreaseHeldUntil = 0;
  /** Bumped by every pause: a turn reserved under an older epoch is reserved again. */
  pauseEpoch = 0;
  down: Down | undefined;
  dead: DlrError | undefined;
  /** Resolved and replaced whenever `down` changes, so waiters look again. */
  changed: { promise: Promise<void>; resolve: () => void } = deferred();
  requests = 0;
  waitedMs = 0;
  readonly throttled: Record<string, number> = {};
  /** Send times of the last minute, to learn a rate for an origin that had no limit. */
  readonly recent: number[] = [];

  constructor(
    readonly origin: string,
    readonly budget: ReturnType<BudgetFor>,
    learned: number | undefined,
  ) {
    this.slots = new Semaphore(budget.maxConnections);
    this.learnedRpm = learned;
  }

  requestParams(): GcraParams | undefined {
    const rpm = this.learnedRpm ?? this.budget.requestsPerMinute;
    return perMinute(rpm, this.learnedRpm !== undefined ? Math.min(this.budget.burst, 1) : this.budget.burst);
  }

  notify(): void {
    const { resolve } = this.changed;
    this.changed = deferred();
    resolve();
  }
}

/** Requests per minute over the last minute's send times; undefined with fewer than two. */
export function observedRpm(sent: readonly number[]): number | undefined {
  if (sent.length < 2) return undefined;
  const span = Math.max(1_000, sent[sent.length - 1]! - sent[0]!);
  return ((sent.length - 1) / span) * 60_000;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Waits `ms`, or until `wake` settles, or throws `interrupted`. */
async function waitFor(ms: number, wake: Promise<void> | undefined, signal: AbortSignal | undefined): Promise<void> {
  if (wake === undefined) return sleep(ms, signal);
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await Promise.race([sleep(ms, controller.signal).catch(() => undefined), wake]);
  } finally {
    controller.abort();
    signal?.removeEventListener('abort', onAbort);
  }
  if (signal?.aborted) throw new DlrError('interrupted', 'interrupted');
}

/**
 * The in-process RequestLimiter: one state per origin (a GCRA timestamp, a
 * pause deadline, connection slots, a learned rate, an unreachable state).
 */
export class MemoryLimiter implements RequestLimiter {
  readonly #options: MemoryLimiterOptions;
  readonly #origins = new Map<string, OriginState>();
  readonly #now: () => number;
  readonly #random: () => number;
  #runByteTat = 0;

  constructor(options: MemoryLimiterOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => Date.now());
    this.#random = options.random ?? Math.random;
  }

  #state(origin: string): OriginState {
    let state = this.#origins.get(origin);
    if (state === undefined) {
      state = new OriginState(origin, this.#options.budgetFor(origin), this.#options.learned?.[origin]);
      this.#origins.set(origin, state);
    }
    return state;
  }

  async acquire(origin: string, signal?: AbortSignal): Promise<RequestPermit> {
    const o = this.#state(origin);
    const asked = this.#now();
    let probe = false;
    let slot = false;
    try {
      // One loop, the origin's state looked at again after every wait: a
      // pause or a down origin that began while this request waited for a
      // connection slot or for its turn holds it too, and a turn reserved
      // before a pause is reserved again after it (the pause reset the
      // budget's clock), so the waiters do not all go at once when it ends.
      for (;;) {
        if (signal?.aborted) throw new DlrError('interrupted', 'interrupted');
        if (o.dead) throw o.dead;
        const now = this.#now();
        if (o.down && !probe) {
          if (o.down.probing || now < o.down.retryAt) {
            await waitFor(o.down.probing ? 60_000 : o.down.retryAt - now, o.changed.promise, signal);
            continue;
          }
          o.down.probing = true;
          probe = true;
        }
        if (!probe && now < o.pausedUntil) {
          // Each waiter wakes a little apart, so a fleet does not return in lockstep.
          const jitter = this.#random() * Math.min(1_000, (o.pausedUntil - now) / 10);
          await waitFor(o.pausedUntil - now + jitter, o.changed.promise, signal);
          continue;
        }
        if (!slot) {
          await o.slots.acquire(signal);
          slot = true;
          continue;
        }
        const params = probe ? undefined : o.requestParams();
        if (params === undefined) break;
        const epoch = o.pauseEpoch;
        const r = gcraReserve(o.tat, now, params);
        o.tat = r.tat;
        if (r.waitMs <= 0) break;
        await waitFor(r.waitMs, o.changed.promise, signal);
        // Woken by a pause (or the turn came): reserve again unless nothing changed.
        if (o.pauseEpoch === epoch && this.#now() >= now + r.waitMs - 1) break;
      }
    } catch (error) {
      if (slot) o.slots.release();
      if (probe && o.down) {
        o.down.probing = false;
        o.notify();
      }
      o.waitedMs += this.#now() - asked;
      throw error;
    }
    const sent = this.#now();
    o.waitedMs += sent - asked;
    o.requests++;
    o.recent.push(sent);
    while (o.recent.length > 0 && o.recent[0]! < sent - 60_000) o.recent.shift();
    return this.#permit(o, probe);
  }

  #permit(o: OriginState, probe: boolean): RequestPermit {
    let released = false;
    let settled = false;
    const settleProbe = (up: boolean) => {
      if (!probe || settled) return;
      settled = true;
      if (up) o.down = undefined;
      else if (o.down) o.down.probing = false;
      o.notify();
    };
    return {
      answered: (status, headers) => {
        settleProbe(true);
        this.#answered(o, status, headers);
      },
      failed: (error) => {
        if (!isUnreachable(error)) {
          settleProbe(true);
          return error;
        }
        settled = true;
        return this.#unreachable(o, error, probe);
      },
      release: () => {
        if (released) return;
        released = true;
        // A probe that ended without an answer (aborted) lets another try.
        settleProbe(false);
        o.slots.release();
      },
    };
  }

  #answered(o: OriginState, status: number, headers: HeaderMap): void {
    const wait = serverWaitMs(status, headers);
    if (status === 429 || status === 503) {
      o.throttled[status] = (o.throttled[status] ?? 0) + 1;
      const ms = Math.min(wait ?? this.#options.pauseWithoutHeaderMs, this.#options.maxPauseMs);
      this.#pause(o, ms, status);
      // Multiplicative decrease from what was allowed, or, for an origin
      // with no budget, from the rate we were sending at (too few requests
      // to measure one: only the pause).
      // Once per pause: the other 429s of that moment answer requests sent
      // before it, at the rate already cut (as TCP cuts once per window).
      const now = this.#now();
      if (now >= o.decreaseHeldUntil) {
        const base = o.learnedRpm ?? (o.budget.requestsPerMinute || observedRpm(o.recent));
        if (base !== undefined) o.learnedRpm = Math.max(MIN_LEARNED_RPM, base / 2);
        o.decreaseHeldUntil = now + Math.max(ms, 1_000);
      }
      return;
    }
    // The Hub says its window is spent (RateLimit r=0) on an ordinary answer too.
    if (wait !== undefined && wait > 0) this.#pause(o, Math.min(wait, this.#options.maxPauseMs), status);
    if (status < 400 && o.learnedRpm !== undefined) {
      // Additive increase: one more request per minute per success.
      o.learnedRpm += 1;
      const ceiling = o.budget.requestsPerMinute || UNLIMITED_RECOVERY_RPM;
      if (o.learnedRpm >= ceiling) o.learnedRpm = undefined;
    }
  }

  #pause(o: OriginState, ms: number, status: number): void {
    const until = this.#now() + ms;
    if (until <= o.pausedUntil) return;
    o.pausedUntil = until;
    // Turns reserved before the pause are void: their requests reserve again
    // after it, from the pause's end (no burst of stale turns when it lifts).
    o.pauseEpoch++;
    o.tat = until;
    o.notify();
    this.#options.onOriginEvent?.({ type: 'origin-pause', origin: o.origin, ms, status });
  }

  #unreachable(o: OriginState, error: DlrError, probe: boolean): DlrError {
    const now = this.#now();
    if (o.down !== undefined && !probe) {
      // A request that was already on its way when the origin went down:
      // the same outage, not another try. Only the probe spends the schedule.
      return new DlrError(error.code, error.message, { cause: error, detail: error.detail, originWide: true });
    }
    if (o.dead) return o.dead;
    if (o.down === undefined) {
      const notFound = error.detail === 'ENOTFOUND';
      const delays = this.#options.unreachableDelaysMs;
      const schedule = !error.retryable ? [] : notFound ? delays.slice(0, 1).map((d) => Math.min(d, DNS_RETRY_MS)) : delays;
      o.down = { error, schedule, step: 0, retryAt: now, probing: false };
    } else {
      o.down.probing = false;
    }
    const down = o.down;
    const delay = down.schedule[down.step];
    if (delay === undefined) {
      const tries = down.step;
      const note = tries === 0 ? '' : ` (origin retried ${tries} ${tries === 1 ? 'time' : 'times'})`;
      o.dead = new DlrError(error.code, `${error.message}${note}`, { cause: error, detail: error.detail, retryable: false });
      o.down = undefined;
      this.#options.onOriginEvent?.({ type: 'origin-dead', origin: o.origin, code: error.code, message: error.message });
      o.notify();
      return o.dead;
    }
    down.step++;
    down.retryAt = now + delay;
    this.#options.onOriginEvent?.({ type: 'origin-down', origin: o.origin, retryInMs: delay, code: error.code, message: error.message });
    o.notify();
    return new DlrError(error.code, error.message, { cause: error, detail: error.detail, originWide: true });
  }

  takeBytes(origin: string, bytes: number): number {
    let wait = 0;
    const now = this.#now();
    const o = this.#state(origin);
    const perOrigin = perSecondBytes(o.budget.bytesPerSecond);
    if (perOrigin !== undefined) {
      const r = gcraReserve(o.byteTat, now, perOrigin, bytes);
      o.byteTat = r.tat;
      wait = r.waitMs;
    }
    const run = perSecondBytes(this.#options.limitRateBytesPerSec ?? 0);
    if (run !== undefined) {
      const r = gcraReserve(this.#runByteTat, now, run, bytes);
      this.#runByteTat = r.tat;
      wait = Math.max(wait, r.waitMs);
    }
    return wait;
  }

  stats(): readonly OriginStats[] {
    return reportOrigins(this.#origins.values()).stats;
  }

  learnedRates(): Readonly<Record<string, number>> {
    return reportOrigins(this.#origins.values()).learned;
  }
}
