import { join } from 'node:path';
import { fetchOne } from '../app/fetch-one.js';
import { safeFileName } from '../engine/safe-name.js';
import type { DownloadResult, WriteGuard } from '../engine/types.js';
import { toDlrError } from '../errors.js';
import type { HttpClient } from '../http/client.js';
import { redactUrl } from '../http/credentials.js';
import type { PlanEntry } from '../history/plan.js';
import type { InvalidRow } from '../history/read-history.js';
import type { ResolvedFile, SourceSettings } from '../sources/types.js';
import { pathExists } from '../util/fs.js';
import { sleep } from '../util/sleep.js';
import { TimeSlice } from '../util/time-slice.js';
import { notReachedItems } from './not-reached.js';
import { OriginGaps } from './origin-gaps.js';
import { schedule } from './scheduler.js';
import { withSiteType } from './site-type.js';
import type { BatchEvent, BatchItem, BatchOutcome } from './types.js';

export interface BatchOptions {
  readonly entries: readonly PlanEntry[];
  /** Rows that failed validation; reported as failed `invalid-row` items. */
  readonly invalid: readonly InvalidRow[];
  /** The run's network client (policy, dispatcher, origin limiter). */
  readonly client: HttpClient;
  readonly sources: SourceSettings;
  /** Files in flight at once (`-j`); 1 = one after another, as the seed's plan. */
  readonly jobs: number;
  /** Checkpoints transferring at once (`checkpoint_jobs`). */
  readonly checkpointJobs: number;
  /**
   * The seed's sleep_between_downloads, per origin: the gap between the end
   * of a successful transfer and the start of the next file from the same site.
   */
  readonly pauseBetweenMs: number;
  /** Replace existing files (the old one stays until the new one is complete). */
  readonly force: boolean;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: BatchEvent) => void;
  /** The folder of a model type: a row with no type goes to its site's type's folder (see withSiteType). */
  readonly dirFor?: (type: string) => string;
  /**
   * Entries known to be there already (by plan index), skipped up front in
   * plan order without a request; the rest are scheduled, and each is
   * checked again just before its turn.
   */
  readonly present?: readonly boolean[];
  /** Fleet mode: a lease per file, so each file is fetched by one member (src/fleet/batch-leases.ts). */
  readonly leases?: EntryLeases;
}

/** A fleet's per-file leases, asked before each entry is fetched. */
export interface EntryLeases {
  /** The lease on the entry's file, or how long another member is expected to keep it. */
  take(entry: PlanEntry): Promise<{ readonly lease: EntryLease } | { readonly busyForMs: number }>;
}

export interface EntryLease {
  readonly guard: WriteGuard;
  /** The lease was lost while the file was fetched (this member was overtaken): the entry goes back in the queue. */
  lost(): boolean;
  release(): Promise<void>;
}

/** How often entries another member holds are looked at again (their file may be there by then). */
const HELD_POLL_MS = 1_000;

/**
 * Runs the plan with the scheduler: at most `jobs` files in flight, started
 * in plan order, checkpoints `checkpointJobs` at a time. Never throws for a
 * failed file: every entry ends as an item with a result, including the ones
 * a signal kept from starting (see notReachedItems), so the failures CSV
 * lists them. Items come back in plan order, whatever finished first: a
 * run's reports do not depend on timing.
 */
export async function runBatch(options: BatchOptions): Promise<BatchOutcome> {
  const startedAt = new Date();
  const t0 = performance.now();
  const emit = (event: BatchEvent) => options.onEvent?.(event);
  const invalidItems: BatchItem[] = options.invalid.map(({ row, line, error }) => ({
    subject: { ...row, line },
    result: notAttempted(row.url, { code: error.code, message: error.message }),
    finishedAt: startedAt,
  }));
  const entries = options.entries;
  const total = entries.length;
  const results: Array<BatchItem | undefined> = new Array(total);
  const resolved: Array<{ url: string; file: ResolvedFile; path: string | undefined } | undefined> = new Array(total);
  let interrupted = false;

  const slice = new TimeSlice(options.signal);
  const gaps = new OriginGaps(options.pauseBetweenMs);
  // A nightly run mostly finds its files present: those end at once, in plan
  // order, with one `skip` line each and no request; only the rest are scheduled.
  const toFetch: number[] = [];
  // One timestamp for the lot: they are decided in the same moment (and 100k Dates are memory).
  const decidedAt = new Date();
  for (let i = 0; i < total; i++) {
    if (slice.due()) await slice.pause().catch(() => undefined);
    if (options.signal?.aborted) break;
    if (options.present?.[i] === true && !options.force) {
      const item: BatchItem = { subject: entries[i]!, result: skipped(entries[i]!), finishedAt: decidedAt };
      results[i] = item;
      emit({ type: 'item-end', index: i + 1, total, item });
    } else {
      toFetch.push(i);
    }
  }

  // Fleet mode: entries another member holds, come back to after the others (index → ms it expects to hold them).
  const held = new Map<number, number>();

  const runEntry = async (i: number): Promise<void> => {
    const entry = entries[i]!;
    const index = i + 1;
    // Skip before asking any API: a file that is there (appeared since the
    // plan, or one the folder listing could not vouch for) costs no request.
    if (!options.force && entry.path !== undefined && (await pathExists(entry.path))) {
      const item: BatchItem = { subject: entry, result: skipped(entry), finishedAt: new Date() };
      results[i] = item;
      emit({ type: 'item-end', index, total, item });
      return;
    }
    if (options.leases === undefined) return fetchEntry(i, undefined);
    let answer;
    try {
      answer = await options.leases.take(entry);
    } catch {
      // The coordinator is gone: its signal stops the run, this entry is not reached.
      interrupted = true;
      return;
    }
    if ('busyForMs' in answer) {
      held.set(i, answer.busyForMs);
      return;
    }
    try {
      await fetchEntry(i, answer.lease);
    } finally {
      await answer.lease.release();
    }
  };

  const fetchEntry = async (i: number, lease: EntryLease | undefined): Promise<void> => {
    const entry = entries[i]!;
    const index = i + 1;
    const origin = originOf(entry.url);
    try {
      await gaps.before(origin, options.signal, (ms) => emit({ type: 'pause', index, total, ms }));
    } catch {
      interrupted = true;
      return;
    }
    if (options.signal?.aborted) {
      interrupted = true;
      return;
    }
    emit({ type: 'item-start', index, total, entry });
    let target = entry;
    let outcome;
    try {
      outcome = await fetchOne(entry.url, {
        client: options.client,
        sources: options.sources,
        overwrite: options.force,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(lease ? { guard: lease.guard } : {}),
        onEvent: (event) => emit({ type: 'item-progress', index, total, event }),
        destination: (file) => {
          target = withSiteType(entry, file.type, options.dirFor);
          const name = target.path ?? (file.filename ? join(target.dir, safeFileName(file.filename)) : undefined);
          return name === undefined ? { dir: target.dir } : { file: name };
        },
      });
    } catch (caught) {
      const error = toDlrError(caught);
      const item: BatchItem = { subject: entry, result: notAttempted(entry.url, { code: error.code, message: error.message }), finishedAt: new Date() };
      results[i] = item;
      emit({ type: 'item-end', index, total, item });
      return;
    }
    const result = outcome.result;
    if (outcome.resolved) resolved[i] = { url: entry.url, file: outcome.resolved, path: result.path };
    const item: BatchItem = { subject: { ...target, path: result.path ?? target.path }, result, finishedAt: new Date() };
    results[i] = item;
    emit({ type: 'item-end', index, total, item });
    if (result.status === 'failed' && result.error.code === 'interrupted') interrupted = true;
    if (result.status === 'done') gaps.after(origin);
    // Overtaken by another member: looked at again later (its file is there by then, or its lease is free).
    if (result.status === 'failed' && lease?.lost() && !options.signal?.aborted) held.set(i, 0);
  };

  let round = toFetch;
  for (;;) {
    await schedule({
      items: round,
      jobs: options.jobs,
      heavyJobs: options.checkpointJobs,
      isHeavy: (i) => entries[i]!.type === 'checkpoint',
      ...(options.signal ? { signal: options.signal } : {}),
      run: runEntry,
    });
    if (held.size === 0 || options.signal?.aborted) break;
    let soonest = HELD_POLL_MS;
    for (const ms of held.values()) soonest = Math.min(soonest, ms);
    const wait = Math.max(100, soonest);
    round = [...held.keys()].sort((a, b) => a - b);
    held.clear();
    try {
      await sleep(wait, options.signal);
    } catch {
      break;
    }
  }
  if (options.signal?.aborted) interrupted = true;
  // Entries the stop kept from their turn (never started, or stopped in the seed's pause).
  const missing: number[] = [];
  for (let i = 0; i < total; i++) if (results[i] === undefined) missing.push(i);
  const notReached = await notReachedItems(
    missing.map((i) => entries[i]!),
    options.force,
    new Date(),
  );
  missing.forEach((i, k) => (results[i] = notReached[k]));
  return {
    items: [...invalidItems, ...(results as BatchItem[])],
    interrupted,
    startedAt,
    elapsedMs: performance.now() - t0,
    resolved: resolved.filter((r): r is NonNullable<typeof r> => r !== undefined),
  };
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

function skipped(entry: PlanEntry): DownloadResult {
  // A URL with no userinfo and no query parameter has nothing to redact:
  // skipping 100k present files should not parse 100k URLs.
  const url = entry.url.includes('@') || entry.url.includes('=') ? redactUrl(entry.url) : entry.url;
  return { status: 'skipped', reason: 'exists', url, path: entry.path, attempts: 0, retries: 0, bytesFetched: 0, durationMs: 0 };
}

function notAttempted(url: string, error: { code: Extract<DownloadResult, { status: 'failed' }>['error']['code']; message: string }): DownloadResult {
  return { status: 'failed', url: redactUrl(url), path: undefined, attempts: 0, retries: 0, bytesFetched: 0, durationMs: 0, error };
}
