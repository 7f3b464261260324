import type { ErrorCode } from '../errors.js';
import type { BatchOutcome } from './types.js';

/** The run in numbers: what the seed plan prints, plus bytes, time and failures by code. */
export interface BatchSummary {
  readonly total: number;
  readonly success: number;
  /** Downloads whose bytes matched the hash the source publishes. */
  readonly verified: number;
  readonly skipped: number;
  readonly failed: number;
  /** Waits-and-tries-again across all files, and files that succeeded after at least one. */
  readonly retries: { readonly total: number; readonly successful: number };
  /** success / (total − skipped); null when nothing was attempted. */
  readonly successRate: number | null;
  readonly bytes: number;
  readonly elapsedMs: number;
  readonly failuresByCode: Readonly<Partial<Record<ErrorCode, number>>>;
  readonly interrupted: boolean;
  readonly startedAt: string;
}

export function summarize(outcome: BatchOutcome): BatchSummary {
  let success = 0;
  let verified = 0;
  let skipped = 0;
  let failed = 0;
  let retries = 0;
  let successfulRetries = 0;
  let bytes = 0;
  const failuresByCode: Partial<Record<ErrorCode, number>> = {};
  for (const { result } of outcome.items) {
    retries += result.retries;
    bytes += result.bytesFetched;
    if (result.status === 'done') {
      success++;
      if (result.verified) verified++;
      if (result.retries > 0) successfulRetries++;
    } else if (result.status === 'skipped') {
      skipped++;
    } else {
      failed++;
      failuresByCode[result.error.code] = (failuresByCode[result.error.code] ?? 0) + 1;
    }
  }
  const total = outcome.items.length;
  const attempted = total - skipped;
  return {
    total,
    success,
    verified,
    skipped,
    failed,
    retries: { total: retries, successful: successfulRetries },
    successRate: attempted > 0 ? success / attempted : null,
    bytes,
    elapsedMs: outcome.elapsedMs,
    failuresByCode,
    interrupted: outcome.interrupted,
    startedAt: outcome.startedAt.toISOString(),
  };
}
