import { DlrError, type ErrorCode } from '../errors.js';
import { parseRetryAfter } from './retry-after.js';

export type HeaderMap = Readonly<Record<string, string | string[] | undefined>>;

export function header(headers: HeaderMap, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Turns a non-success HTTP answer into a typed error. 429 and 503 are the
 * throttling signals of both sites (WIRE.md 1.3, 2.1); other 5xx are
 * retried too; 401/403/404 fail at once because waiting cannot fix them.
 * `detail` is the server's own message (a JSON `error`/`message`), if any.
 */
export function errorForStatus(status: number, headers: HeaderMap, detail?: string): DlrError {
  const retryAfterMs = serverWaitMs(status, headers);
  const suffix = detail ? `: ${detail}` : '';
  const make = (code: ErrorCode, text: string) =>
    new DlrError(code, `HTTP ${status} ${text}${suffix}`, { status, retryAfterMs });
  switch (status) {
    case 401:
      return make('auth-required', 'Unauthorized (missing or invalid API key / token)');
    case 403:
      // Only what the server said: early access is Civitai's to say (sources/civitai.ts), not a guess for every 403.
      return make('forbidden', 'Forbidden');
    case 404:
      return make('not-found', 'Not Found');
    case 410:
      return make('not-found', 'Gone');
    case 408:
      return make('timeout', 'Request Timeout');
    case 429:
      return make('rate-limited', 'Too Many Requests');
    case 503:
      return make('rate-limited', 'Service Unavailable');
    default:
      if (status >= 500) return make('server-error', 'Server Error');
      return make('http-error', 'unexpected status');
  }
}

/**
 * How long the server asked us to wait, if it did: Retry-After (seconds or
 * a date), else the Hub's `RateLimit` reset when its window is spent.
 */
export function serverWaitMs(status: number, headers: HeaderMap): number | undefined {
  return parseRetryAfter(header(headers, 'retry-after')) ?? rateLimitWait(status, header(headers, 'ratelimit'));
}

/** Pulls a human message out of a small error body (JSON `{error, message}` or short text). */
export function messageFromErrorBody(body: string, contentType: string | undefined): string | undefined {
  const text = body.trim();
  if (text === '') return undefined;
  if (contentType?.includes('json') || text.startsWith('{')) {
    try {
      const json = JSON.parse(text) as { error?: unknown; message?: unknown };
      const parts = [json.error, json.message].filter((p): p is string => typeof p === 'string' && p !== '');
      if (parts.length > 0) return oneLine(parts.join(': '));
    } catch {
      // not JSON after all
    }
  }
  if (contentType?.includes('html') || /^<(!doctype|html)/i.test(text)) return undefined;
  return oneLine(text);
}

function oneLine(text: string): string {
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}

/**
 * The IETF draft `RateLimit: "api";r=0;t=55` the Hugging Face Hub sends
 * (WIRE.md 2.1): `r` is the requests left in the window, `t` the seconds until
 * it resets. The hub sends it on ordinary answers too (WIRE.md 2.2 shows
 * `r=2999;t=172` on a redirect), so `t` is a wait only when the window is
 * spent: a 429, or `r=0`. A 503 with requests left waits the configured delay.
 * Used when there is no Retry-After.
 */
function rateLimitWait(status: number, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const remaining = /(?:^|;)\s*r=(\d+)/.exec(value)?.[1];
  const spent = remaining !== undefined && Number(remaining) === 0;
  if (status !== 429 && !spent) return undefined;
  return parseRateLimitReset(value);
}

/** `t` of a `RateLimit` header in ms, clamped to the timer maximum. */
export function parseRateLimitReset(value: string | undefined): number | undefined {
  const t = value === undefined ? undefined : /(?:^|;)\s*t=(\d+)/.exec(value)?.[1];
  return t === undefined ? undefined : Math.min(Number(t) * 1000, 2 ** 31 - 1);
}
