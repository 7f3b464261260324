import type { DlrError } from '../errors.js';
import type { ResolvedPolicy } from '../options.js';

export type RetryDecision =
  | { readonly retry: false; readonly reason: string }
  | { readonly retry: true; readonly delayMs: number; readonly reason: string };

export interface RetryInput {
  /** Retries already made for this file (0 before the first retry). */
  readonly retriesSoFar: number;
  readonly error: DlrError;
  readonly policy: Pick<ResolvedPolicy, 'retryDelaysMs' | 'maxRetryAfterMs'>;
}

/**
 * Whether and when to try a failed transfer again. Pure: no clock, no I/O.
 * Retryable codes wait `retryDelaysMs[k]`, or the server's Retry-After when
 * that is longer; after the last delay the file fails. A Retry-After beyond
 * `maxRetryAfterMs` fails at once: an unattended batch should move on and
 * leave the file in the failures list rather than sleep for hours.
 */
export function decideRetry({ retriesSoFar, error, policy }: RetryInput): RetryDecision {
  if (!error.retryable) return { retry: false, reason: `${error.code} is not retryable` };
  const base = policy.retryDelaysMs[retriesSoFar];
  if (base === undefined) {
    return { retry: false, reason: `gave up after ${retriesSoFar} ${retriesSoFar === 1 ? 'retry' : 'retries'}` };
  }
  const retryAfter = error.retryAfterMs;
  if (retryAfter !== undefined && retryAfter > policy.maxRetryAfterMs) {
    return {
      retry: false,
      reason: `server asked to wait ${formatWait(retryAfter)}, more than the ${formatWait(policy.maxRetryAfterMs)} limit (--max-retry-after)`,
    };
  }
  const delayMs = Math.max(base, retryAfter ?? 0);
  return { retry: true, delayMs, reason: error.message };
}

/** A wait as a person reads it: `90s`, `15 min`, `5 h`, `3 days`, `11 years`. */
export function formatWait(ms: number): string {
  const s = Math.ceil(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 2 * 3600) return `${Math.round(s / 60)} min`;
  if (s < 2 * 86_400) return `${Math.round(s / 3600)} h`;
  if (s < 2 * 365 * 86_400) return `${Math.round(s / 86_400)} days`;
  return `${Math.round(s / (365.25 * 86_400))} years`;
}
