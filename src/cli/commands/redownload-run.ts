import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { failuresPathFor, redownload, type RunEvent } from '../../app/redownload.js';
import { DlrError, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_LOCKED, EXIT_OK, UsageError } from '../../errors.js';
import { redactUrl } from '../../http/credentials.js';
import type { PlanEntry } from '../../history/plan.js';
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
  const failuresPath = failuresPathFor(ctx.historyPath, flags.failures, target === 'all');
  const summaryPath = flags.summaryJson === undefined ? undefined : resolve(flags.summaryJson);
  for (const [flag, path] of [['--failures', failuresPath], ['--summary-json', summaryPath]] as const) {
    if (path === ctx.historyPath) throw new UsageError(`${flag} must not be the history file ${ctx.historyPath}`);
    // Found now, not after hours of downloads: the reports are written beside them by temp file + rename.
    if (path !== undefined && !(await canWriteIn(dirname(path)))) throw new UsageError(`${flag}: cannot write in ${dirname(path)}`);
  }
  const reporter = await chooseReporter(io.stderr, io.env, flags.quiet ?? false, io.notices);
  const force = flags.force ?? false;
  try {
    const outcome = await redownload(
      ctx,
      {
        target,
        force,
        failuresPath,
        summaryPath,
        signal: io.signal,
        dryRun: flags.dryRun ?? false,
        confirm: (entries) => confirm(entries, force, flags.yes ?? false, io.signal),
      },
      (event) => render(reporter, event),
    );
    switch (outcome.kind) {
      case 'planned':
        for (const line of await planLines(outcome.entries, force)) io.stdout.write(`${line}\n`);
        return EXIT_OK;
      case 'cancelled':
        reporter.info('cancelled');
        return EXIT_OK;
      case 'nothing':
        return EXIT_OK;
      case 'ran':
        for (const line of summaryLines(outcome.summary)) reporter.notice(line);
        // Before "interrupted": losing the coordinator stopped the run, and cron should try again.
        if (outcome.coordinatorLost) {
          reporter.warn(outcome.coordinatorLost.message);
          return EXIT_LOCKED;
        }
        if (outcome.outcome.interrupted) return EXIT_INTERRUPTED;
        return outcome.summary.failed > 0 ? EXIT_FAILED : EXIT_OK;
    }
  } finally {
    reporter.close();
  }
}

function render(reporter: Reporter, event: RunEvent): void {
  switch (event.type) {
    case 'item-start':
      reporter.begin(`${event.entry.type} ${event.entry.path ?? event.entry.dir} ${redactUrl(event.entry.url)}`, event);
      break;
    case 'item-progress':
      reporter.event(event.event, event);
      break;
    case 'item-end':
      reporter.end(event.item.result, event);
      break;
    case 'pause':
      reporter.pause(event.ms, event);
      break;
    case 'origin-pause':
    case 'origin-down':
    case 'origin-dead':
      reporter.origin(event);
      break;
    case 'info':
      reporter.info(event.text);
      break;
    case 'warn':
      reporter.warn(event.text);
      break;
    case 'notice':
      reporter.notice(event.text);
      break;
  }
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

async function canWriteIn(dir: string): Promise<boolean> {
  try {
    await access(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

