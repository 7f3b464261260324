import { MAX_TIMER_MS } from '../options.js';

/**
 * Parses Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
 * Returns ms to wait, clamped to the timer ceiling so a huge value cannot
 * overflow setTimeout into an immediate retry; `undefined` for junk.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+$/.test(text)) {
    return Math.min(Number(text) * 1000, MAX_TIMER_MS);
  }
  // Only the date forms RFC 9110 allows; Date.parse alone accepts far more.
  if (!/^[A-Za-z]{3},? /.test(text) && !/^[A-Za-z]+day, /.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - now), MAX_TIMER_MS);
}
