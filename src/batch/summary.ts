import type { ErrorCode } from '../errors.js';
import { normalizeModelType } from '../domain/model-type.js';
import { redactUrl } from '../http/credentials.js';
import type { OriginStats } from '../limiter/types.js';
import type { BatchOutcome } from './types.js';

/** The run in numbers: what the seed plan prints, plus bytes, time and failures by code. */
export interface BatchSummary {
  readonly total: number;
  readonly success: number;
  /** Downloads whose bytes matched the hash the source publishes. */
  readonly verified: number;
  readonly skipped: number;
  /** Files that were tried and failed (the ones a signal kept from their turn are in notStarted). */
  readonly failed: number;
  /**
   * Files a signal kept from their turn: not failures of the night, so not
   * in `failed` nor the success rate, but in the failures CSV (code
   * `interrupted`) so a retry run gets them.
   */
  readonly notStarted: number;
  /** Waits-and-tries-again across all files, and files that succeeded after at least one. */
  readonly retries: { readonly total: number; readonly successful: number };
  /** success / (total − skipped − notStarted); null when nothing was attempted. */
  readonly successRate: number | null;
  /**
   * The same counts per model type (invalid rows under their written type),
   * so the seed's bar — checkpoints >= 95 %, the whole batch >= 90 % — can be
   * read off a nightly run.
   */
  readonly byType: Readonly<Record<string, TypeCounts>>;
  readonly bytes: number;
  readonly elapsedMs: number;
  readonly failuresByCode: Readonly<Partial<Record<ErrorCode, number>>>;
  readonly interrupted: boolean;
  readonly startedAt: string;
  /**
   * Per origin the run talked to: requests sent, 429/503 answers, time spent
   * waiting on the limiter (budget, connection slots, pauses, a down origin),
   * and the request rate learned after throttling.
   */
  readonly origins: readonly OriginSummary[];
}

export interface OriginSummary {
  readonly origin: string;
  readonly requests: number;
  readonly throttled: Readonly<Record<string, number>>;
  readonly waitedMs: number;
  readonly learnedRequestsPerMinute: number | null;
}

export type Summary = BatchSummary;

export interface TypeCounts {
  readonly total: number;
  readonly success: number;
  readonly skipped: number;
  readonly failed: number;
  readonly notStarted: number;
  /** success / (total − skipped − notStarted); null when nothing of the type was attempted. */
  readonly successRate: number | null;
}

export function summarize(outcome: BatchOutcome, origins: readonly OriginStats[] = []): BatchSummary {
  let success = 0;
  let verified = 0;
  let skipped = 0;
  let failed = 0;
  let notStarted = 0;
  let retries = 0;
  let successfulRetries = 0;
  let bytes = 0;
  const failuresByCode: Partial<Record<ErrorCode, number>> = {};
  const perType = new Map<string, { total: number; success: number; skipped: number; failed: number; notStarted: number }>();
  for (const { subject, result, notStarted: unreached } of outcome.items) {
    const key = subject.type ?? (normalizeModelType(subject.modelType) || 'unknown');
    const counts = perType.get(key) ?? { total: 0, success: 0, skipped: 0, failed: 0, notStarted: 0 };
    perType.set(key, counts);
    counts.total++;
    if (unreached === true) {
      counts.notStarted++;
      notStarted++;
      continue;
    }
    if (result.status === 'done') counts.success++;
    else if (result.status === 'skipped') counts.skipped++;
    else counts.failed++;
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
  const attempted = total - skipped - notStarted;
  return {
    total,
    success,
    verified,
    skipped,
    failed,
    notStarted,
    retries: { total: retries, successful: successfulRetries },
    successRate: attempted > 0 ? success / attempted : null,
    byType: Object.fromEntries(
      [...perType].map(([type, c]) => {
        const tried = c.total - c.skipped - c.notStarted;
        return [type, { ...c, successRate: tried > 0 ? c.success / tried : null }];
      }),
    ),
    bytes,
    elapsedMs: outcome.elapsedMs,
    failuresByCode,
    interrupted: outcome.interrupted,
    startedAt: outcome.startedAt.toISOString(),
    origins: [...origins]
      .sort((a, b) => a.origin.localeCompare(b.origin))
      .map((o) => ({
        origin: o.origin,
        requests: o.requests,
        throttled: o.throttled,
        waitedMs: Math.round(o.waitedMs),
        learnedRequestsPerMinute: o.learnedRequestsPerMinute ?? null,
      })),
  };
}

/** One file of the run, for `--summary-json`'s `files` (plan order, invalid rows first). */
export interface FileDetail {
  /** Redacted: no userinfo, secret query parameters masked. */
  readonly url: string;
  readonly path: string | null;
  /** The model type it was filed under (a row's written type when it never became a plan entry). */
  readonly type: string;
  readonly outcome: 'done' | 'skipped' | 'failed' | 'not-started';
  /** The error code of a failed (or not started: `interrupted`) file; null otherwise. */
  readonly code: string | null;
  /** Body bytes fetched in this run. */
  readonly bytes: number;
  readonly retries: number;
  /** HTTP requests for the body. */
  readonly attempts: number;
}

export function fileDetails(outcome: BatchOutcome): FileDetail[] {
  return outcome.items.map(({ subject, result, notStarted }) => ({
    // redactUrl parses no plain URL: a 100k-row night pays a regex test per row.
    url: redactUrl(subject.url),
    path: result.path ?? subject.path ?? null,
    type: subject.type ?? (normalizeModelType(subject.modelType) || 'unknown'),
    outcome: notStarted === true ? 'not-started' : result.status,
    code: result.status === 'failed' ? result.error.code : null,
    bytes: result.bytesFetched,
    retries: result.retries,
    attempts: result.attempts,
  }));
}
