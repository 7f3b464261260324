import type { DlrError } from '../errors.js';
import type { HeaderMap } from '../http/status-error.js';

/** What one origin (scheme://host:port) may be sent. 0 = no limit. */
export interface OriginBudget {
  /** Requests per minute, spaced evenly after the burst (GCRA). */
  readonly requestsPerMinute: number;
  /** Requests that may go at once after a quiet spell. */
  readonly burst: number;
  /** Connections (requests in flight, bodies included) at once. */
  readonly maxConnections: number;
  /** Body bytes per second, all transfers from the origin together. */
  readonly bytesPerSecond: number;
}

/**
 * The per-origin request budget of a run: every request in dlr asks it
 * before it is sent (src/http/request.ts), and tells it how the answer went.
 * An in-process implementation now (memory-limiter.ts); a fleet shares one
 * through Redis with the same arithmetic (gcra.ts).
 */
export interface RequestLimiter {
  /**
   * Waits until a request to `origin` may go: the origin is not paused (a
   * 429/503) nor down (unreachable, waiting on its retry schedule), a
   * connection slot is free, and the request budget allows it. Throws the
   * origin's error once it is given up as unreachable, `interrupted` on abort.
   */
  acquire(origin: string, signal?: AbortSignal): Promise<RequestPermit>;
  /**
   * Body bytes that arrived from `origin`: how long to wait before reading
   * more (per-origin `bytes_per_second` and the run's `--limit-rate`).
   */
  takeBytes(origin: string, bytes: number): number;
  /** What happened per origin, for the summary and metrics. */
  stats(): readonly OriginStats[];
  /** Request rates learned after 429s, to start the next run from (origin → requests per minute). */
  learnedRates(): Readonly<Record<string, number>>;
}

export interface RequestPermit {
  /**
   * The answer's head arrived. A 429 or 503 pauses the origin for everyone
   * (its Retry-After or RateLimit reset, else `pauseWithoutHeaderMs`, plus
   * jitter) and lowers its learned rate; other answers raise it again.
   */
  answered(status: number, headers: HeaderMap): void;
  /**
   * The request failed without an answer. Returns the error to throw: when
   * the origin itself is unreachable it is marked `originWide`, so a file
   * does not spend its own retries on it (the origin has one schedule).
   */
  failed(error: DlrError): DlrError;
  /** The exchange is over (body read or dropped): frees the connection slot. Idempotent. */
  release(): void;
}

export interface OriginStats {
  readonly origin: string;
  readonly requests: number;
  /** Answers by status, for the ones that matter to a limiter (429, 503). */
  readonly throttled: Readonly<Record<string, number>>;
  /** Time requests spent waiting for budget, slots, pauses and a down origin. */
  readonly waitedMs: number;
  /** The request rate learned after throttling, if any (requests per minute). */
  readonly learnedRequestsPerMinute: number | undefined;
}

export type BudgetFor = (origin: string) => OriginBudget;

/** What a limiter counts per origin, however it keeps it (in process, or beside Redis). */
export interface OriginCounters {
  readonly origin: string;
  readonly requests: number;
  readonly throttled: Readonly<Record<string, number>>;
  readonly waitedMs: number;
  readonly learnedRpm: number | undefined;
}

/** `stats()` and `learnedRates()` of a RequestLimiter, from its per-origin counters. */
export function reportOrigins(counters: Iterable<OriginCounters>): { stats: OriginStats[]; learned: Record<string, number> } {
  const stats: OriginStats[] = [];
  const learned: Record<string, number> = {};
  for (const o of counters) {
    stats.push({ origin: o.origin, requests: o.requests, throttled: { ...o.throttled }, waitedMs: o.waitedMs, learnedRequestsPerMinute: o.learnedRpm });
    if (o.learnedRpm !== undefined) learned[o.origin] = Math.round(o.learnedRpm * 100) / 100;
  }
  return { stats, learned };
}
