import { setTimeout as delay } from 'node:timers/promises';
import { DlrError } from '../errors.js';

/**
 * The one wait used for backoff and the pause between files: it rejects with
 * `interrupted` as soon as the signal aborts, so Ctrl-C never waits out a
 * 300 s backoff.
 */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) {
    if (signal?.aborted) throw new DlrError('interrupted', 'interrupted');
    return;
  }
  try {
    await delay(ms, undefined, { signal });
  } catch (error) {
    if (signal?.aborted) throw new DlrError('interrupted', 'interrupted', { cause: error });
    throw error;
  }
}
