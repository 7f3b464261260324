import { RetryBudget } from '../policy/with-retries.js';
import { join } from 'node:path';
import type { HttpClient } from '../http/client.js';
import { DlrError, toDlrError } from '../errors.js';
import { safeFileName } from '../engine/safe-name.js';
import type { ResolvedFile } from '../sources/types.js';
import { FolderListings } from '../util/presence.js';
import { TimeSlice } from '../util/time-slice.js';
import { download } from '../engine/download.js';
import type { DownloadResult } from '../engine/types.js';
import { redactUrl } from '../http/credentials.js';
import type { PlanEntry } from '../history/plan.js';
import type { InvalidRow } from '../history/read-history.js';
import { sleep } from '../util/sleep.js';
import { notReachedItems } from './not-reached.js';
import { withSiteType } from './site-type.js';
import type { BatchEvent, BatchItem, BatchOutcome } from './types.js';

/**
 * A folder listing older than this is taken again before it says a file is
 * there. Only a stale "there" matters (a name the listing lacks is asked of
 * lstat): a file deleted in the last seconds before its turn is skipped, as
 * it was when it was deleted just after the check. Downloads take longer
 * than this, so each one is followed by a fresh listing.
 */
const PRESENCE_FRESH_MS = 10_000;

export interface BatchOptions {
  readonly entries: readonly PlanEntry[];
  /** Rows that failed validation; reported as failed `invalid-row` items. */
  readonly invalid: readonly InvalidRow[];
  /** The run's network client (policy, dispatcher, origin limiter). */
  readonly client: HttpClient;
  /** Pause after each successful download unless it was the last (the seed's sleep_between_downloads). */
  readonly pauseBetweenMs: number;
  /** Replace existing files (the old one stays until the new one is complete). */
  readonly force: boolean;
  /** Turns a history URL into what to fetch (Civitai/Hugging Face APIs); a failure fails just that file. */
  readonly resolve: (url: string, budget: RetryBudget) => Promise<ResolvedFile>;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: BatchEvent) => void;
  /** The folder of a model type: a row with no type goes to its site's type's folder (see withSiteType). */
  readonly dirFor?: (type: string) => string;
}

/**
 * Runs the plan one file at a time, in order. Never throws for a failed file:
 * every entry ends as an item with a result, including the ones a signal
 * kept from starting (see notReachedItems), so the failures CSV lists them.
 */
export async function runBatch(options: BatchOptions): Promise<BatchOutcome> {
  const startedAt = new Date();
  const t0 = performance.now();
  const emit = (event: BatchEvent) => options.onEvent?.(event);
  const items: BatchItem[] = options.invalid.map(({ row, line, error }) => ({
    subject: { ...row, line },
    result: notAttempted(row.url, { code: error.code, message: error.message }),
    finishedAt: startedAt,
  }));
  const total = options.entries.length;
  const resolvedFiles: Array<{ url: string; file: ResolvedFile; path: string | undefined }> = [];
  let interrupted = false;
  let notReached: readonly PlanEntry[] = [];

  // A nightly run mostly finds its files present: one listing per folder answers for them.
  const presence = new FolderListings(PRESENCE_FRESH_MS);
  const slice = new TimeSlice();
  for (const [i, entry] of options.entries.entries()) {
    const index = i + 1;
    if (slice.due()) await slice.pause();
    if (options.signal?.aborted) {
      interrupted = true;
      notReached = options.entries.slice(i);
      break;
    }
    // Skip before asking any API: an existing file costs no request at all.
    // Its one event is its end (a `skip` line), not a start as well: a
    // 100k-row run whose files are there spent a third of its time on
    // `start` lines for files it never started.
    if (!options.force && entry.path !== undefined && (await presence.has(entry.path))) {
      const item: BatchItem = { subject: entry, result: skipped(entry), finishedAt: new Date() };
      items.push(item);
      emit({ type: 'item-end', index, total, item });
      continue;
    }
    emit({ type: 'item-start', index, total, entry });
    const started = performance.now();
    let resolved: ResolvedFile;
    const budget = new RetryBudget(options.client.policy, (info) => emit({ type: 'item-progress', index, total, event: { type: 'retry', ...info } }));
    try {
      resolved = await options.resolve(entry.url, budget);
    } catch (caught) {
      const error = options.signal?.aborted ? new DlrError('interrupted', 'interrupted') : toDlrError(caught);
      const item: BatchItem = {
        subject: entry,
        result: { ...notAttempted(entry.url, { code: error.code, message: error.message }), retries: budget.spent, durationMs: performance.now() - started },
        finishedAt: new Date(),
      };
      items.push(item);
      emit({ type: 'item-end', index, total, item });
      if (error.code === 'interrupted') interrupted = true;
      continue;
    }
    const target = withSiteType(entry, resolved.type, options.dirFor);
    const name = target.path ?? (resolved.filename ? join(target.dir, safeFileName(resolved.filename)) : undefined);
    const result = await download(
      {
        url: resolved.url,
        dest: name === undefined ? { dir: target.dir } : { file: name },
        headers: resolved.headers,
        overwrite: options.force,
        ...(resolved.expect ? { expect: resolved.expect } : {}),
        ...(resolved.inspect ? { inspect: resolved.inspect } : {}),
      },
      {
        client: options.client,
        signal: options.signal,
        budget,
        onEvent: (event) => emit({ type: 'item-progress', index, total, event }),
      },
    );
    resolvedFiles.push({ url: entry.url, file: resolved, path: result.path });
    const item: BatchItem = { subject: { ...target, path: result.path ?? target.path }, result, finishedAt: new Date() };
    items.push(item);
    emit({ type: 'item-end', index, total, item });
    if (result.status === 'failed' && result.error.code === 'interrupted') {
      interrupted = true;
      continue;
    }
    if (result.status === 'done' && index < total && options.pauseBetweenMs > 0) {
      emit({ type: 'pause', ms: options.pauseBetweenMs });
      try {
        await sleep(options.pauseBetweenMs, options.signal);
      } catch {
        interrupted = true;
      }
    }
  }
  items.push(...(await notReachedItems(notReached, options.force, new Date())));
  return { items, interrupted, startedAt, elapsedMs: performance.now() - t0, resolved: resolvedFiles };
}

function skipped(entry: PlanEntry): DownloadResult {
  return { status: 'skipped', reason: 'exists', url: redactUrl(entry.url), path: entry.path, attempts: 0, retries: 0, bytesFetched: 0, durationMs: 0 };
}

function notAttempted(url: string, error: { code: Extract<DownloadResult, { status: 'failed' }>['error']['code']; message: string }): DownloadResult {
  return { status: 'failed', url: redactUrl(url), path: undefined, attempts: 0, retries: 0, bytesFetched: 0, durationMs: 0, error };
}
