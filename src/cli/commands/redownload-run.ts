import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { failuresPathFor, redownload, type RunEvent } from '../../app/redownload.js';
import { DlrError, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_LOCKED, EXIT_OK, exitCodeFor, toDlrError, UsageError } from '../../errors.js';
import { redactUrl } from '../../http/credentials.js';
import type { PlanEntry } from '../../history/plan.js';
import type { CliIo } from '../io.js';
import { confirmQuestion, previewFetch } from '../fetch-preview.js';
import { planLines } from '../plan-lines.js';
import { finishRun, type OperatorOutputs } from '../../report/finish-run.js';
import { JsonEventStream } from '../../report/json-events.js';
import { NOTIFY_ON_VALUES, type NotifyOn } from '../../report/notify.js';
import { formatDuration } from '../../util/units.js';
import { chooseReporter, progressEveryMs } from '../reporter/choose.js';
import type { Reporter } from '../reporter/reporter.js';
import { summaryLines } from '../reporter/summary-lines.js';
import { loadRunContext } from '../run-context.js';
import { repairPlan } from '../../verify/repair.js';
import type { VerifyResult } from '../../verify/verify-files.js';
import type { RedownloadFlags } from './redownload.js';
import { progressEnv } from './request-options.js';

/** `onVerified`: each file's verdict in a repair (`dlr verify --repair` prints them as verify does). */
export async function runRedownload(target: string, flags: RedownloadFlags, io: CliIo, onVerified?: (result: VerifyResult) => void): Promise<number> {
  const startedAt = performance.now();
  const ctx = await loadRunContext(flags, io);
  const failuresPath = failuresPathFor(ctx.historyPath, flags.failures, target === 'all');
  const summaryPath = flags.summaryJson === undefined ? undefined : resolve(flags.summaryJson);
  const outputs = operatorOutputs(flags, ctx);
  for (const [flag, path] of [['--failures', failuresPath], ['--summary-json', summaryPath], ['--metrics-file', outputs.metricsPath]] as const) {
    if (path === ctx.historyPath) throw new UsageError(`${flag} must not be the history file ${ctx.historyPath}`);
    // Found now, not after hours of downloads: the reports are written beside them by temp file + rename.
    if (path !== undefined && !(await canWriteIn(dirname(path)))) throw new UsageError(`${flag}: cannot write in ${dirname(path)}`);
  }
  const quiet = flags.quiet ?? false;
  const reporter = await chooseReporter(io.stderr, progressEnv(io.env, flags.progress), quiet, io.notices);
  const json = flags.json ? new JsonEventStream((line) => io.stdout.write(line), { progressEveryMs: progressEveryMs(io.env) }) : undefined;
  const view = new RunView(reporter);
  // A repair replaces what it fetches (missing or corrupt files only): --force for the narrowed plan.
  const repair = flags.repair ? repairPlan(ctx, onVerified ?? ((r) => r.state === 'corrupt' && reporter.warn(`corrupt: ${r.entry.path} (${r.detail}); fetching it again`))) : undefined;
  const force = (flags.force ?? false) || repair !== undefined;
  const warn = (text: string) => {
    reporter.warn(text);
    json?.event({ type: 'warn', text });
  };
  try {
    let outcome;
    try {
      outcome = await redownload(
        ctx,
        {
          target,
          force,
          failuresPath,
          summaryPath,
          signal: io.signal,
          dryRun: flags.dryRun ?? false,
          ...(repair ? { narrow: repair } : {}),
          confirm: (entries) => confirm(entries, force, flags.yes ?? false, io.signal),
        },
        (event) => {
          json?.event(event);
          view.render(event);
        },
      );
    } catch (error) {
      // A run that stopped with an error of its own (the lock held, an unreadable history) is trouble for operators too.
      const exitCode = exitCodeFor(error);
      await finishRun(outputs, { command: 'redownload', exitCode, summary: undefined, error, elapsedMs: performance.now() - startedAt }, warn);
      const e = toDlrError(error);
      json?.error(e.code, e.message, exitCode);
      throw error;
    }
    switch (outcome.kind) {
      case 'planned':
        if (json) outcome.entries.forEach((entry, i) => json.planned(i + 1, outcome.entries.length, entry));
        else for (const line of await planLines(outcome.entries, force)) io.stdout.write(`${line}\n`);
        return EXIT_OK;
      case 'cancelled':
        reporter.info('cancelled');
        return EXIT_OK;
      case 'nothing':
        await finishRun(outputs, { command: 'redownload', exitCode: EXIT_OK, summary: outcome.summary }, warn);
        json?.summary(outcome.summary, { exitCode: EXIT_OK, failuresCsv: null });
        return EXIT_OK;
      case 'ran': {
        const { summary } = outcome;
        // Before "interrupted": losing the coordinator stopped the run, and cron should try again.
        const exitCode = outcome.coordinatorLost
          ? EXIT_LOCKED
          : outcome.outcome.interrupted
            ? EXIT_INTERRUPTED
            : summary.failed > 0
              ? EXIT_FAILED
              : EXIT_OK;
        await finishRun(
          outputs,
          { command: 'redownload', exitCode, summary, items: outcome.outcome.items, failuresCsv: outcome.failuresCsv },
          warn,
        );
        const trouble = exitCode !== EXIT_OK || summary.notStarted > 0;
        if (view.quietNight && !trouble && summary.skipped === summary.total) {
          // A night with nothing to do says so in one line (and -q says nothing).
          reporter.info(`all ${summary.total} file${summary.total === 1 ? '' : 's'} present (checked in ${formatDuration(performance.now() - startedAt)})`);
        } else if (!quiet || trouble) {
          for (const line of summaryLines(summary)) reporter.notice(line);
        }
        if (outcome.coordinatorLost) reporter.warn(outcome.coordinatorLost.message);
        json?.summary(summary, { exitCode, failuresCsv: outcome.failuresCsv });
        return exitCode;
      }
    }
  } finally {
    reporter.close();
  }
}

/** --metrics-file / --notify / --notify-on over the config's metrics_file / notify_url / notify_on. */
function operatorOutputs(flags: RedownloadFlags, ctx: Awaited<ReturnType<typeof loadRunContext>>): OperatorOutputs {
  if (flags.notify !== undefined && !isHttpUrl(flags.notify)) throw new UsageError('--notify takes an http(s) URL');
  if (flags.notifyOn !== undefined && !NOTIFY_ON_VALUES.includes(flags.notifyOn as NotifyOn)) {
    throw new UsageError(`--notify-on takes ${NOTIFY_ON_VALUES.join(' or ')}, got '${flags.notifyOn}'`);
  }
  return {
    metricsPath: flags.metricsFile !== undefined ? resolve(flags.metricsFile) : ctx.config.metricsFile,
    notifyUrl: flags.notify ?? ctx.config.notifyUrl,
    notifyOn: (flags.notifyOn as NotifyOn | undefined) ?? ctx.config.notifyOn ?? 'failure',
    network: ctx.network,
  };
}

function isHttpUrl(text: string): boolean {
  try {
    return /^https?:$/.test(new URL(text).protocol);
  } catch {
    return false;
  }
}

/**
 * The run's events for the reporter. A quiet night (every planned file
 * already there) is told from the plan: its `skip` lines and the plan line
 * are left out, and the run ends with one line instead of the summary.
 */
class RunView {
  quietNight = false;

  constructor(readonly reporter: Reporter) {}

  render(event: RunEvent): void {
    if (event.type === 'plan') {
      this.quietNight = event.files > 0 && event.present === event.files && event.invalid === 0;
      if (!this.quietNight) {
        const jobs = event.jobs > 1 ? `, ${event.jobs} at a time` : '';
        this.reporter.info(`${event.files} file${event.files === 1 ? '' : 's'} to check, checkpoints first${jobs}; history ${event.history}`);
      }
      return;
    }
    if (this.quietNight && event.type === 'item-end' && event.item.result.status === 'skipped') return;
    render(this.reporter, event);
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

