import { constants } from 'node:fs';
import { access, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { freeSpaceWarning } from '../../batch/disk-space.js';
import { writeFailuresCsv } from '../../batch/failures-csv.js';
import { runBatch } from '../../batch/run-batch.js';
import { foldersToLock } from '../../batch/site-type.js';
import { acquireRunLock, isProcessAlive, releaseOnExit } from '../../batch/run-lock.js';
import { summarize } from '../../batch/summary.js';
import type { BatchEvent, BatchOutcome } from '../../batch/types.js';
import { DlrError, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError, toDlrError } from '../../errors.js';
import { redactUrl } from '../../http/credentials.js';
import { hashCachePathFor, updateHashCache } from '../../history/hash-cache.js';
import { planDownloads, splitPathCollisions, urlKey, type PlanEntry } from '../../history/plan.js';
import { readHistory, type InvalidRow } from '../../history/read-history.js';
import { resolveSource } from '../../sources/resolve-source.js';
import { isCivitaiUrl } from '../../sources/civitai.js';
import { removeOrphans } from '../../util/fs.js';
import type { CliIo } from '../io.js';
import { confirmQuestion, previewFetch } from '../fetch-preview.js';
import { planLines } from '../plan-lines.js';
import { chooseReporter } from '../reporter/choose.js';
import type { Reporter } from '../reporter/reporter.js';
import { summaryLines } from '../reporter/summary-lines.js';
import { loadRunContext } from '../run-context.js';
import type { RedownloadFlags } from './redownload.js';

export async function runRedownload(target: string, flags: RedownloadFlags, io: CliIo): Promise<number> {
  const ctx = await loadRunContext(flags, io);
  const history = await readHistory(ctx.historyPath, { signal: io.signal });
  const planned = splitPathCollisions(await planDownloads(history.rows, ctx.dirFor, { signal: io.signal }));
  let entries = planned.entries;
  let invalid: readonly InvalidRow[] = [...history.invalid, ...planned.collisions];
  if (target !== 'all') {
    const wanted = urlKey(target);
    entries = entries.filter((e) => urlKey(e.url) === wanted);
    invalid = [];
    if (entries.length === 0) throw new UsageError(`${redactUrl(target)} is not in the history file ${ctx.historyPath} (use 'dlr download' for a new URL)`);
  }
  const failuresPath = failuresPathFor(ctx.historyPath, flags.failures, target === 'all');
  const summaryPath = flags.summaryJson === undefined ? undefined : resolve(flags.summaryJson);
  for (const [flag, path] of [['--failures', failuresPath], ['--summary-json', summaryPath]] as const) {
    if (path === ctx.historyPath) throw new UsageError(`${flag} must not be the history file ${ctx.historyPath}`);
    // Found now, not after hours of downloads: the reports are written beside them by temp file + rename.
    if (path !== undefined && !(await canWriteIn(dirname(path)))) throw new UsageError(`${flag}: cannot write in ${dirname(path)}`);
  }
  const reporter = await chooseReporter(io.stderr, io.env, flags.quiet ?? false, io.notices);
  for (const row of invalid) reporter.warn(`history ${ctx.historyPath} ${row.error.message}; it will be listed as failed (invalid-row)`);
  const force = flags.force ?? false;

  if (flags.dryRun) {
    for (const line of await planLines(entries, force)) io.stdout.write(`${line}\n`);
    return EXIT_OK;
  }
  if (entries.length === 0 && invalid.length === 0) {
    reporter.info(`nothing to do: ${ctx.historyPath} lists no downloads`);
    // Last night's failures and summary must not outlive a run that had none.
    await writeReports(reporter, { items: [], interrupted: false, startedAt: new Date(), elapsedMs: 0 }, failuresPath, summaryPath);
    return EXIT_OK;
  }
  if (!(await confirm(entries, force, flags.yes ?? false, io.signal))) {
    reporter.info('cancelled');
    return EXIT_OK;
  }

  const lock = await acquireRunLock(foldersToLock(entries, Object.values(ctx.config.downloadPaths), (e) => isCivitaiEntry(e.url, ctx.sources.civitaiBaseUrl)));
  releaseOnExit(lock);
  for (const { reason } of lock.unlockable) reporter.warn(`${reason}; files bound there will fail`);
  await removeOrphans(dirname(ctx.historyPath), isProcessAlive);
  const client = ctx.openClient();
  try {
    const space = await freeSpaceWarning(entries, force);
    if (space) reporter.warn(space);
    reporter.info(`${entries.length} file${entries.length === 1 ? '' : 's'} to check, checkpoints first; history ${ctx.historyPath}`);
    const outcome = await runBatch({
      entries,
      invalid,
      dirFor: ctx.dirFor,
      client,
      pauseBetweenMs: ctx.pauseBetweenMs,
      force,
      signal: io.signal,
      resolve: (url, retryBudget) => resolveSource(url, { settings: ctx.sources, client, signal: io.signal, retryBudget }),
      onEvent: (event) => render(reporter, event),
    });
    const summary = summarize(outcome);
    for (const line of summaryLines(summary)) reporter.notice(line);
    await writeReports(reporter, outcome, failuresPath, summaryPath);
    try {
      await updateHashCache(hashCachePathFor(ctx.historyPath), outcome.resolved ?? []);
    } catch (error) {
      reporter.warn(toDlrError(error).message);
    }
    if (outcome.interrupted) return EXIT_INTERRUPTED;
    return summary.failed > 0 ? EXIT_FAILED : EXIT_OK;
  } finally {
    reporter.close();
    await client.close();
    await lock.release();
  }
}

/**
 * The failures CSV (removed when nothing failed) and the summary JSON.
 * Hours of work are summarized before anything else can fail; a write error
 * is a warning naming the file, not a lost run.
 */
async function writeReports(reporter: Reporter, outcome: BatchOutcome, failuresPath: string | undefined, summaryPath: string | undefined): Promise<void> {
  let failuresCsv: string | null = null;
  if (failuresPath !== undefined) {
    try {
      if ((await writeFailuresCsv(failuresPath, outcome.items)) > 0) failuresCsv = failuresPath;
    } catch (error) {
      reporter.warn(`cannot write the failures CSV ${failuresPath}: ${toDlrError(error).message}`);
    }
  }
  if (failuresCsv) reporter.notice(`failures: ${failuresCsv} (retry them with: dlr redownload all --history ${failuresCsv})`);
  if (summaryPath !== undefined) {
    try {
      await writeSummaryJson(summaryPath, { ...summarize(outcome), failuresCsv });
    } catch (error) {
      reporter.warn(`cannot write the summary JSON ${summaryPath}: ${toDlrError(error).message}`);
    }
  }
}

function render(reporter: Reporter, event: BatchEvent): void {
  switch (event.type) {
    case 'item-start':
      reporter.setItem(event.index, event.total);
      reporter.begin(`${event.entry.type} ${event.entry.path ?? event.entry.dir} ${redactUrl(event.entry.url)}`);
      break;
    case 'item-progress':
      reporter.event(event.event);
      break;
    case 'item-end':
      // A skipped file has no start event: its end carries its place.
      reporter.setItem(event.index, event.total);
      reporter.end(event.item.result);
      break;
    case 'pause':
      reporter.pause(event.ms);
      break;
  }
}

/**
 * The failures CSV goes beside the history as `failures.csv`; when the
 * history *is* that file (a retry run), `failures.retry.csv`, so a run never
 * rewrites its own input. A single-URL run leaves the nightly list alone
 * unless --failures asks for one.
 */
function failuresPathFor(historyPath: string, flag: string | undefined, wholeHistory: boolean): string | undefined {
  if (flag !== undefined) return resolve(flag);
  if (!wholeHistory) return undefined;
  const beside = join(dirname(historyPath), 'failures.csv');
  return beside === historyPath ? join(dirname(historyPath), 'failures.retry.csv') : beside;
}

/**
 * The seed's confirmation, only for a person at a terminal; cron (no TTY)
 * never blocks on it. It says what will really be fetched (files already
 * there are skipped) and the size known so far; with nothing to fetch there
 * is nothing to confirm.
 */
async function confirm(entries: readonly PlanEntry[], force: boolean, yes: boolean, signal: AbortSignal): Promise<boolean> {
  if (yes || force || !process.stdin.isTTY) return true;
  const preview = await previewFetch(entries, force);
  if (preview.fetch === 0) return true;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(confirmQuestion(preview), { signal });
    return /^y(es)?$/i.test(answer.trim());
  } catch (error) {
    // Ctrl-C at the prompt (readline's own, or our signal handler) is an interruption, not a crash.
    if ((error as { code?: string }).code === 'ABORT_ERR' || signal.aborted) throw new DlrError('interrupted', 'interrupted at the prompt');
    throw error;
  } finally {
    rl.close();
  }
}

async function writeSummaryJson(path: string, data: object): Promise<void> {
  try {
    await writeFile(path, `${JSON.stringify(data, null, 2)}\n`);
  } catch (error) {
    throw toDlrError(error, { path });
  }
}

async function canWriteIn(dir: string): Promise<boolean> {
  try {
    await access(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}


/** Civitai names a model's type; other sources do not, so only its rows may take one. */
function isCivitaiEntry(url: string, civitaiBaseUrl: string): boolean {
  try {
    return isCivitaiUrl(new URL(url), civitaiBaseUrl);
  } catch {
    return false;
  }
}
