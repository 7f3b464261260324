import { setMaxListeners } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { freeSpaceWarning } from '../batch/disk-space.js';
import { writeFailuresCsv } from '../batch/failures-csv.js';
import { runBatch } from '../batch/run-batch.js';
import { acquireRunLock, isProcessAlive, releaseOnExit, type RunLock } from '../batch/run-lock.js';
import { foldersToLock } from '../batch/site-type.js';
import { fileDetails, summarize, type Summary } from '../batch/summary.js';
import type { BatchEvent, BatchOutcome } from '../batch/types.js';
import { toDlrError, UsageError, type DlrError } from '../errors.js';
import { joinFleet } from '../fleet/fleet.js';
import type { HttpClient } from '../http/client.js';
import { redactUrl } from '../http/credentials.js';
import { hashCachePathFor, updateHashCache } from '../history/hash-cache.js';
import { planDownloads, splitPathCollisions, urlKey, type PlanEntry } from '../history/plan.js';
import { readHistory, type InvalidRow } from '../history/read-history.js';
import { readLearnedRates, stateFileFor, writeLearnedRates } from '../limiter/learned-rates.js';
import type { OriginEvent } from '../limiter/memory-limiter.js';
import { isCivitaiUrl } from '../sources/civitai.js';
import { removeOrphans } from '../util/fs.js';
import { listedPaths } from '../util/presence.js';
import type { RunSettings } from './settings.js';

export interface RedownloadRequest {
  /** `all`, or one history URL. */
  readonly target: string;
  readonly force: boolean;
  /** The failures CSV; undefined: none (a single-URL run without --failures). */
  readonly failuresPath: string | undefined;
  readonly summaryPath: string | undefined;
  readonly signal: AbortSignal;
  /** Asked once the plan is known and before anything is locked or fetched; false cancels. */
  readonly confirm?: (entries: readonly PlanEntry[]) => Promise<boolean>;
  /** Plan only: the entries come back, nothing is locked or fetched. */
  readonly dryRun?: boolean;
  /**
   * Repair (`--repair`, with `force`): once the folders are locked, narrows
   * the plan to the entries to fetch again, missing or corrupt (see
   * src/verify/repair.ts), asking the sources through the run's client.
   */
  readonly narrow?: (entries: readonly PlanEntry[], client: HttpClient, signal: AbortSignal) => Promise<readonly PlanEntry[]>;
}

/** What the run tells whoever renders it, besides the batch's own events. */
export type RunEvent =
  | BatchEvent
  | OriginEvent
  | PlanEvent
  | { readonly type: 'info' | 'warn' | 'notice'; readonly text: string };

/**
 * The plan, once known and before anything is fetched: how many files, how
 * many are already there (skipped without a request), how many rows could
 * not be planned. A renderer tells a quiet night (everything present) from it.
 */
export interface PlanEvent {
  readonly type: 'plan';
  readonly files: number;
  readonly present: number;
  readonly invalid: number;
  readonly jobs: number;
  readonly history: string;
}

export type RedownloadOutcome =
  | { readonly kind: 'planned'; readonly entries: readonly PlanEntry[] }
  | { readonly kind: 'cancelled' }
  | { readonly kind: 'nothing'; readonly summary: Summary }
  | {
      readonly kind: 'ran';
      readonly outcome: BatchOutcome;
      readonly summary: Summary;
      /** The failures CSV written, or null when nothing failed (or none was asked for). */
      readonly failuresCsv: string | null;
      /** Fleet mode: the coordinator was lost mid-run (the run stopped taking files; exit 75). */
      readonly coordinatorLost?: DlrError;
    };

/**
 * `dlr redownload`: read the history, plan it (dedupe, priority), lock the
 * folders, fetch with the scheduler under the origin limiter, and write what
 * operators read afterwards (failures CSV, summary JSON, hash cache, the
 * learned rates). No terminal I/O: everything is reported as events.
 */
export async function redownload(settings: RunSettings, request: RedownloadRequest, onEvent: (event: RunEvent) => void): Promise<RedownloadOutcome> {
  const say = (type: 'info' | 'warn' | 'notice', text: string) => onEvent({ type, text });
  let { entries, invalid } = await plan(settings, request.signal);
  if (request.target !== 'all') {
    const wanted = urlKey(request.target);
    entries = entries.filter((e) => urlKey(e.url) === wanted);
    invalid = [];
    if (entries.length === 0) {
      throw new UsageError(`${redactUrl(request.target)} is not in the history file ${settings.historyPath} (use 'dlr download' for a new URL)`);
    }
  }
  for (const row of invalid) say('warn', `history ${settings.historyPath} ${row.error.message}; it will be listed as failed (invalid-row)`);
  if (request.dryRun) return { kind: 'planned', entries };
  if (entries.length === 0 && invalid.length === 0) {
    say('info', `nothing to do: ${settings.historyPath} lists no downloads`);
    // Last night's failures and summary must not outlive a run that had none.
    const empty: BatchOutcome = { items: [], interrupted: false, startedAt: new Date(), elapsedMs: 0 };
    await writeReports(say, empty, request);
    return { kind: 'nothing', summary: summarize(empty) };
  }
  if (request.confirm && !(await request.confirm(entries))) return { kind: 'cancelled' };

  // Fleet mode: joined before anything is locked or fetched (unreachable: exit 75, nothing fetched).
  const fleet = settings.fleet ? await joinFleet(settings.fleet) : undefined;
  // The folder lock keeps two runs on one machine apart. Fleet members on a
  // shared folder cooperate through their leases instead, so they take no
  // lock and sweep no orphans (on a shared folder another host's temp files
  // have pids this machine cannot judge).
  const lock: RunLock = fleet
    ? { paths: [], unlockable: [], release: async () => undefined }
    : await acquireRunLock(foldersToLock(entries, settings.downloadDirs, (e) => isCivitaiEntry(e.url, settings.sources.civitaiBaseUrl)));
  releaseOnExit(lock);
  if (!fleet) await removeOrphans(dirname(settings.historyPath), isProcessAlive);
  for (const { reason } of lock.unlockable) say('warn', `${reason}; files bound there will fail`);
  const statePath = stateFileFor(settings.historyPath);
  const client = settings.openClient({ learned: await readLearnedRates(statePath), onOriginEvent: onEvent, ...(fleet ? { fleet } : {}) });
  // Losing the coordinator stops the run as a signal would: nothing new starts, transfers stop with their parts kept.
  const signal = fleet ? AbortSignal.any([request.signal, fleet.coordinator.lost]) : request.signal;
  setMaxListeners(1_000, signal);
  try {
    if (request.narrow) entries = await request.narrow(entries, client, signal);
    if (fleet) say('info', `fleet member ${fleet.coordinator.member} coordinated by ${fleet.coordinator.address.shown}`);
    // Files already there, from one listing per folder (none with --force):
    // skipped up front, and left out of the free-space sum.
    const present = request.force ? [] : await listedPaths(entries.map((e) => e.path), signal);
    const space = await freeSpaceWarning(request.force ? entries : entries.filter((_, i) => !present[i]), request.force);
    if (space) say('warn', space);
    onEvent({
      type: 'plan',
      files: entries.length,
      present: request.force ? 0 : present.filter(Boolean).length,
      invalid: invalid.length,
      jobs: settings.jobs,
      history: settings.historyPath,
    });
    const outcome = await runBatch({
      entries,
      invalid,
      dirFor: settings.dirFor,
      client,
      sources: settings.sources,
      jobs: settings.jobs,
      checkpointJobs: settings.checkpointJobs,
      pauseBetweenMs: settings.pauseBetweenMs,
      force: request.force,
      signal,
      onEvent,
      present,
      ...(fleet ? { leases: fleet.leases } : {}),
    });
    const origins = client.limiter.stats();
    const summary = summarize(outcome, origins);
    const failuresCsv = await writeReports(say, outcome, request, summary);
    try {
      await updateHashCache(hashCachePathFor(settings.historyPath), outcome.resolved ?? []);
    } catch (error) {
      say('warn', toDlrError(error).message);
    }
    try {
      await writeLearnedRates(statePath, client.limiter.learnedRates(), origins.map((o) => o.origin));
    } catch (error) {
      say('warn', `cannot write ${statePath}: ${toDlrError(error).message}`);
    }
    const lost = fleet?.coordinator.lostError();
    return { kind: 'ran', outcome, summary, failuresCsv, ...(lost ? { coordinatorLost: lost } : {}) };
  } finally {
    await client.close();
    await fleet?.close();
    await lock.release();
  }
}

/**
 * The history read and planned. A function of its own so the rows it read
 * can be collected once the plan holds what it needs (a 100k-row history
 * kept both alive for the whole run: ~40 MiB more at the peak).
 */
async function plan(settings: RunSettings, signal: AbortSignal): Promise<{ entries: readonly PlanEntry[]; invalid: readonly InvalidRow[] }> {
  const history = await readHistory(settings.historyPath, { signal });
  const planned = splitPathCollisions(await planDownloads(history.rows, settings.dirFor, { signal }));
  return { entries: planned.entries, invalid: [...history.invalid, ...planned.collisions] };
}

/**
 * The failures CSV (removed when nothing failed) and the summary JSON.
 * Hours of work are summarized before anything else can fail; a write error
 * is a warning naming the file, not a lost run.
 */
async function writeReports(
  say: (type: 'notice' | 'warn', text: string) => void,
  outcome: BatchOutcome,
  request: Pick<RedownloadRequest, 'failuresPath' | 'summaryPath'>,
  summary: Summary = summarize(outcome),
): Promise<string | null> {
  let failuresCsv: string | null = null;
  if (request.failuresPath !== undefined) {
    try {
      if ((await writeFailuresCsv(request.failuresPath, outcome.items)) > 0) failuresCsv = request.failuresPath;
    } catch (error) {
      say('warn', `cannot write the failures CSV ${request.failuresPath}: ${toDlrError(error).message}`);
    }
  }
  if (failuresCsv) say('notice', `failures: ${failuresCsv} (retry them with: dlr redownload all --history ${failuresCsv})`);
  if (request.summaryPath !== undefined) {
    try {
      // Per file (plan order) last, so the totals stay at the top of the file.
      await writeFile(request.summaryPath, `${JSON.stringify({ ...summary, failuresCsv, files: fileDetails(outcome) }, null, 2)}\n`);
    } catch (error) {
      say('warn', `cannot write the summary JSON ${request.summaryPath}: ${toDlrError(error, { path: request.summaryPath }).message}`);
    }
  }
  return failuresCsv;
}

/**
 * The failures CSV goes beside the history as `failures.csv`; when the
 * history *is* that file (a retry run), `failures.retry.csv`, so a run never
 * rewrites its own input. A single-URL run leaves the nightly list alone
 * unless --failures asks for one.
 */
export function failuresPathFor(historyPath: string, flag: string | undefined, wholeHistory: boolean): string | undefined {
  if (flag !== undefined) return resolve(flag);
  if (!wholeHistory) return undefined;
  const beside = join(dirname(historyPath), 'failures.csv');
  return beside === historyPath ? join(dirname(historyPath), 'failures.retry.csv') : beside;
}

/** Civitai names a model's type; other sources do not, so only its rows may take one. */
function isCivitaiEntry(url: string, civitaiBaseUrl: string): boolean {
  try {
    return isCivitaiUrl(new URL(url), civitaiBaseUrl);
  } catch {
    return false;
  }
}
