/**
 * GCRA (the generic cell rate algorithm, a token bucket written as one
 * timestamp): the arithmetic behind every budget in dlr — requests per
 * origin and bytes per origin or per run.
 *
 * State is one number, the theoretical arrival time (`tat`) of the next
 * unit. A reservation of `cost` units moves it `cost * intervalMs` later;
 * the caller may go `burst` units ahead of it. Unlike a fixed window (what
 * rate-limiter-flexible's Redis store does), there is no window edge where
 * two bursts meet: after the burst, requests are spaced evenly.
 *
 * Pure and clock-free so the same arithmetic runs in a Redis Lua script
 * against Redis's own clock (`TIME`) for a fleet: inputs and outputs are
 * plain numbers in milliseconds.
 */
export interface GcraParams {
  /** Milliseconds per unit: 60_000 / requests per minute, or 1000 / bytes per second. */
  readonly intervalMs: number;
  /** Units that may go at once after a quiet spell (at least 1). */
  readonly burst: number;
}

export interface GcraReservation {
  /** The new theoretical arrival time to store. */
  readonly tat: number;
  /** How long the caller must wait before its units may go (0 = now). */
  readonly waitMs: number;
}

/**
 * Reserves `cost` units at `now`: always succeeds, and says how long to wait.
 * A reservation that waits is already counted, so callers queue fairly in
 * the order they asked.
 */
export function gcraReserve(tat: number, now: number, params: GcraParams, cost = 1): GcraReservation {
  const start = Math.max(tat, now);
  const next = start + cost * params.intervalMs;
  const allowedAt = next - Math.max(1, params.burst) * params.intervalMs;
  return { tat: next, waitMs: Math.max(0, allowedAt - now) };
}

/** The params for a rate per minute (requests) with a burst; undefined when unlimited. */
export function perMinute(rate: number, burst: number): GcraParams | undefined {
  return rate > 0 ? { intervalMs: 60_000 / rate, burst: Math.max(1, burst) } : undefined;
}

/**
 * The params for bytes per second; the burst is a quarter second of bytes
 * (at least 64 KiB), so a transfer is paced in small steps, not in
 * one-second lurches.
 */
export function perSecondBytes(rate: number): GcraParams | undefined {
  return rate > 0 ? { intervalMs: 1000 / rate, burst: Math.max(64 * 1024, rate / 4) } : undefined;
}
