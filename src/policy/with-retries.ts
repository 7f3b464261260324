import { DlrError, toDlrError, type ErrorCode } from '../errors.js';
import type { ResolvedPolicy } from '../options.js';
import { sleep } from '../util/sleep.js';
import { decideRetry } from './retry-policy.js';

export interface RetryInfo {
  readonly retry: number;
  readonly delayMs: number;
  readonly code: ErrorCode;
  readonly message: string;
}

export type BudgetDecision =
  | { readonly retry: true; readonly delayMs: number; readonly info: RetryInfo | undefined }
  | { readonly retry: false; readonly error: DlrError };

/**
 * The retries of one file: its metadata lookups, the Hub probe and its
 * download all spend the same `retry_delays`, so a file waits at most that
 * list once, and the summary counts every retry. One object per file,
 * handed from the lookups to the transfer.
 *
 * A failure of the origin itself (unreachable: `originWide`) costs the file
 * nothing: the origin limiter waits on one schedule for every file behind it
 * and fails them together when it is spent.
 */
export class RetryBudget {
  spent = 0;

  constructor(
    readonly policy: Pick<ResolvedPolicy, 'retryDelaysMs' | 'maxRetryAfterMs'>,
    /** Told of each retry this budget pays for (a reporter's line). */
    readonly onRetry?: (info: RetryInfo) => void,
  ) {}

  /** Whether to try again after `error`, and how long to wait first; counts the retry. */
  decide(error: DlrError, signal?: AbortSignal): BudgetDecision {
    if (signal?.aborted || error.code === 'interrupted') return { retry: false, error: error.code === 'interrupted' ? error : new DlrError('interrupted', 'interrupted') };
    if (error.originWide) return { retry: true, delayMs: 0, info: undefined };
    const decision = decideRetry({ retriesSoFar: this.spent, error, policy: this.policy });
    if (!decision.retry) {
      // The same note on every failed file, so the failures CSV reads alike.
      if (!error.retryable) return { retry: false, error };
      return {
        retry: false,
        error: new DlrError(error.code, `${error.message} (${decision.reason})`, { cause: error, status: error.status, detail: error.detail, retryable: false }),
      };
    }
    return { retry: true, delayMs: decision.delayMs, info: this.spend(decision.delayMs, error) };
  }

  /** Counts a retry that needs no policy decision (a fresh start after a hash mismatch). */
  spend(delayMs: number, error: DlrError): RetryInfo {
    this.spent++;
    const info = { retry: this.spent, delayMs, code: error.code, message: error.message };
    this.onRetry?.(info);
    return info;
  }
}

/**
 * Runs `fn` under the file's retry budget (429/503/5xx/network wait and try
 * again), for requests that are not a file body: API metadata and probes.
 * Throws the last error as a DlrError.
 */
export async function withRetries<T>(fn: () => Promise<T>, budget: RetryBudget, signal?: AbortSignal): Promise<T> {
  for (;;) {
    try {
      return await fn();
    } catch (caught) {
      const decision = budget.decide(toDlrError(caught), signal);
      if (!decision.retry) throw decision.error;
      await sleep(decision.delayMs, signal);
    }
  }
}
