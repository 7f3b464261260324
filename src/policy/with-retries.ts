import { toDlrError } from '../errors.js';
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
  },
): Promise<T> {
  for (let retries = 0; ; retries++) {
    try {
      return await fn();
    } catch (caught) {
      const error = toDlrError(caught);
      const decision = decideRetry({ retriesSoFar: retries, error, policy: opts.policy });
      if (!decision.retry || opts.signal?.aborted) throw error;
      opts.onRetry?.({ retry: retries + 1, delayMs: decision.delayMs, code: error.code, message: error.message });
      await sleep(decision.delayMs, opts.signal);
    }
  }
}
