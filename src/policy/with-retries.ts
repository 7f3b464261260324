import { DlrError, toDlrError } from '../errors.js';
import type { ResolvedPolicy } from '../options.js';
import { sleep } from '../util/sleep.js';
import { decideRetry } from './retry-policy.js';

/**
 * Runs `fn` under the same retry policy as transfers (429/503/5xx/network
 * wait and try again), for requests that are not a file body: API metadata
 * and probes. Throws the last error as a DlrError.
 */
export async function withRetries<T>(
  fn: () => Promise<T>,
  opts: {
    readonly policy: ResolvedPolicy;
    readonly signal?: AbortSignal;
    readonly onRetry?: (info: { retry: number; delayMs: number; code: string; message: string }) => void;
    /** Retries already spent on the same file; updated here. One budget per file, not per request. */
    readonly budget?: RetryBudget;
  },
): Promise<T> {
  const budget = opts.budget ?? { spent: 0 };
  for (;;) {
    try {
      return await fn();
    } catch (caught) {
      const error = toDlrError(caught);
      const decision = decideRetry({ retriesSoFar: budget.spent, error, policy: opts.policy });
      if (!decision.retry || opts.signal?.aborted) {
        // The same note a failed download carries, so the failures CSV reads alike.
        if (!error.retryable || opts.signal?.aborted) throw error;
        throw new DlrError(error.code, `${error.message} (${decision.reason})`, { cause: error, status: error.status, detail: error.detail });
      }
      budget.spent++;
      opts.onRetry?.({ retry: budget.spent, delayMs: decision.delayMs, code: error.code, message: error.message });
      await sleep(decision.delayMs, opts.signal);
    }
  }
}

/**
 * The retries of one file: its metadata lookups and probes and its download
 * share `retry_delays`, so a file waits at most that list once, and the
 * summary counts every retry.
 */
export interface RetryBudget {
  spent: number;
}
