import { DlrError } from '../errors.js';
import { serverWaitMs, type HeaderMap } from '../http/status-error.js';
import { MemoryLimiter, observedRpm, type MemoryLimiterOptions, type OriginEvent } from '../limiter/memory-limiter.js';
import { reportOrigins, type BudgetFor, type OriginBudget, type OriginCounters, type OriginStats, type RequestLimiter, type RequestPermit } from '../limiter/types.js';
import { sleep } from '../util/sleep.js';
import type { Coordinator } from './coordinator.js';
import { originField, originKeys, ORIGINS_KEY, type OriginKeys } from './keys.js';
import { DECIDE, PAUSE_LEFT, SUCCEEDED, THROTTLED } from './scripts.js';

export interface RedisLimiterOptions extends Omit<MemoryLimiterOptions, 'learned'> {
  readonly coordinator: Coordinator;
}

/** An unlimited origin whose learned rate climbs past this is unlimited again (as in memory-limiter.ts). */
const UNLIMITED_RECOVERY_RPM = 600;
/**
 * What the in-process half is told about a 429/503: a status that settles
 * its probe and changes nothing else, since pausing and slowing down are
 * the fleet's to decide (in Redis), not this member's.
 */
const NEUTRAL_STATUS = 499;

interface Origin {
  readonly origin: string;
  readonly budget: OriginBudget;
  readonly keys: OriginKeys;
  /** The fleet's learned rate as last seen in Redis. */
  learned: number | undefined;
  requests: number;
  waitedMs: number;
  readonly throttled: Record<string, number>;
  /** This member's send times of the last minute, to learn a rate for an origin that had no budget. */
  readonly recent: number[];
}

/**
 * The fleet's RequestLimiter: the request budget of each origin, its pause
 * after a 429/503 and its learned (AIMD) rate live in Redis, decided by one
 * Lua script per request against Redis's clock (scripts.ts), so every member
 * draws from one budget. What stays per process, in an inner MemoryLimiter
 * given no request budget: connection slots (`max_connections`), byte pacing
 * (`bytes_per_second`, `--limit-rate`) and the unreachable-origin schedule —
 * they guard this machine's sockets and link, and sharing them would put a
 * Redis round trip under every chunk of a transfer.
 *
 * A slow Redis delays only requests about to start (they wait for their
 * turn); a transfer already running never asks Redis.
 */
export class RedisLimiter implements RequestLimiter {
  readonly #inner: MemoryLimiter;
  readonly #coordinator: Coordinator;
  readonly #budgetFor: BudgetFor;
  readonly #options: RedisLimiterOptions;
  readonly #origins = new Map<string, Origin>();
  readonly #now: () => number;
  readonly #random: () => number;

  constructor(options: RedisLimiterOptions) {
    this.#options = options;
    this.#coordinator = options.coordinator;
    this.#budgetFor = options.budgetFor;
    this.#now = options.now ?? (() => Date.now());
    this.#random = options.random ?? Math.random;
    this.#inner = new MemoryLimiter({
      ...options,
      budgetFor: (origin) => ({ ...options.budgetFor(origin), requestsPerMinute: 0, burst: 0 }),
    });
  }

  #state(origin: string): Origin {
    let o = this.#origins.get(origin);
    if (o === undefined) {
      const budget = this.#budgetFor(origin);
      o = { origin, budget, keys: originKeys(origin), learned: undefined, requests: 0, waitedMs: 0, throttled: {}, recent: [] };
      this.#origins.set(origin, o);
      // For `dlr fleet status`: which origin a key belongs to and its budget as this member sees it.
      const shown = JSON.stringify({ origin, requests_per_minute: budget.requestsPerMinute, burst: budget.burst });
      this.#background(this.#coordinator.command(['HSET', ORIGINS_KEY, originField(origin), shown]));
    }
    return o;
  }

  async acquire(origin: string, signal?: AbortSignal): Promise<RequestPermit> {
    const o = this.#state(origin);
    const asked = performance.now();
    const permit = await this.#inner.acquire(origin, signal);
    try {
      await this.#turn(o, signal);
    } catch (error) {
      permit.release();
      o.waitedMs += performance.now() - asked;
      throw signal?.aborted ? new DlrError('interrupted', 'interrupted') : error;
    }
    o.waitedMs += performance.now() - asked;
    o.requests++;
    const sent = this.#now();
    o.recent.push(sent);
    while (o.recent.length > 0 && o.recent[0]! < sent - 60_000) o.recent.shift();
    return {
      answered: (status, headers) => {
        this.#answered(o, status, headers);
        permit.answered(status === 429 || status === 503 ? NEUTRAL_STATUS : status, {});
      },
      failed: (error) => permit.failed(error),
      release: () => permit.release(),
    };
  }

  /** Waits until the fleet's budget lets one request to the origin go (and counts it). */
  async #turn(o: Origin, signal: AbortSignal | undefined): Promise<void> {
    const { requestsPerMinute, burst } = o.budget;
    for (;;) {
      const [state, ms, learned] = (await this.#coordinator.run(DECIDE, [o.keys.tat, o.keys.pause, o.keys.learned], [requestsPerMinute, burst])) as [string, string, string];
      this.#learned(o, learned);
      const wait = Number(ms);
      if (state === 'paused') {
        await sleep(wait + this.#jitter(wait), signal);
        continue;
      }
      if (wait > 0) {
        await sleep(wait, signal);
        // A 429 that came (to any member) while this request waited for its turn pauses it too.
        for (;;) {
          const left = Number(await this.#coordinator.run(PAUSE_LEFT, [o.keys.pause], []));
          if (!(left > 0)) break;
          await sleep(left + this.#jitter(left), signal);
        }
      }
      return;
    }
  }

  /** Each member wakes a little apart after a pause, so the fleet does not come back in lockstep. */
  #jitter(ms: number): number {
    return this.#random() * Math.min(1_000, ms / 10);
  }

  #learned(o: Origin, text: string): void {
    const rpm = Number(text);
    o.learned = Number.isFinite(rpm) && rpm > 0 ? rpm : undefined;
  }

  #answered(o: Origin, status: number, headers: HeaderMap): void {
    const wait = serverWaitMs(status, headers);
    const keys = [o.keys.pause, o.keys.learned, o.keys.hold];
    if (status === 429 || status === 503) {
      o.throttled[status] = (o.throttled[status] ?? 0) + 1;
      const ms = Math.min(wait ?? this.#options.pauseWithoutHeaderMs, this.#options.maxPauseMs);
      const base = o.budget.requestsPerMinute || observedRpm(o.recent) || 0;
      this.#background(
        this.#coordinator.run(THROTTLED, keys, [ms, base, 1]).then((reply) => {
          const [extended, learned] = reply as [string, string];
          this.#learned(o, learned);
          if (extended === '1') this.#event({ type: 'origin-pause', origin: o.origin, ms, status });
        }),
      );
      return;
    }
    // The Hub says its window is spent (RateLimit r=0) on an ordinary answer too.
    if (wait !== undefined && wait > 0) {
      const ms = Math.min(wait, this.#options.maxPauseMs);
      this.#background(
        this.#coordinator.run(THROTTLED, keys, [ms, 0, 0]).then((reply) => {
          if ((reply as [string, string])[0] === '1') this.#event({ type: 'origin-pause', origin: o.origin, ms, status });
        }),
      );
    }
    if (status < 400 && o.learned !== undefined) {
      const ceiling = o.budget.requestsPerMinute || UNLIMITED_RECOVERY_RPM;
      this.#background(this.#coordinator.run(SUCCEEDED, [o.keys.learned], [ceiling]).then((reply) => this.#learned(o, String(reply))));
    }
  }

  #event(event: OriginEvent): void {
    this.#options.onOriginEvent?.(event);
  }

  /**
   * Reports an answer without holding up the request that got it. A failure
   * here has already marked the coordinator lost (its signal stops the run).
   */
  #background(work: Promise<unknown>): void {
    work.catch(() => undefined);
  }

  takeBytes(origin: string, bytes: number): number {
    return this.#inner.takeBytes(origin, bytes);
  }

  stats(): readonly OriginStats[] {
    return reportOrigins(this.#counters()).stats;
  }

  learnedRates(): Readonly<Record<string, number>> {
    return reportOrigins(this.#counters()).learned;
  }

  #counters(): OriginCounters[] {
    return [...this.#origins.values()].map((o) => ({ ...o, learnedRpm: o.learned }));
  }
}
