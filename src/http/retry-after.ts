/**
 * Parses Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
 * Returns ms to wait, as the server said (a date in 2037 is years away, and
 * says so in a message); `undefined` for junk. Never used as a timer as is:
 * the retry policy refuses anything past `maxRetryAfterMs`, itself below the
 * setTimeout ceiling, so a huge value cannot overflow into an immediate retry.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+$/.test(text)) {
    return Math.min(Number(text) * 1000, Number.MAX_SAFE_INTEGER);
  }
  // Only the date forms RFC 9110 allows; Date.parse alone accepts far more.
  if (!/^[A-Za-z]{3},? /.test(text) && !/^[A-Za-z]+day, /.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
