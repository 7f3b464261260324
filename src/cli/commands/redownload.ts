// The `redownload` command's flags and help. What it does lives in redownload-run.ts,
// loaded only when the command runs: starting one command does not load the
// code and libraries of the others (start-up time counts in every run).

import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import type { ContextFlags } from '../run-context.js';
import { addHistoryOptions } from './history-options.js';
import { addRequestOptions } from './request-options.js';
import { addPolicyOptions } from './policy-options.js';

export interface RedownloadFlags extends ContextFlags {
  readonly force?: boolean;
  readonly yes?: boolean;
  readonly failures?: string;
  readonly summaryJson?: string;
  readonly dryRun?: boolean;
  readonly quiet?: boolean;
  readonly json?: boolean;
  readonly metricsFile?: string;
  readonly notify?: string;
  readonly notifyOn?: string;
  readonly repair?: boolean;
  readonly progress?: boolean;
}

export function registerRedownload(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const cmd = program
    .command('redownload')
    .description('download again what the history lists: `all` (checkpoints, then LoRAs, then embeddings, then the rest) or one URL')
    .argument('<target>', "'all' or a URL from the history")
    .option('-f, --force', 'replace files that already exist (each old file stays until its new one is complete)', false)
    .option('-y, --yes', 'do not ask for confirmation on a terminal', false)
    .option('-j, --jobs <n>', 'files in flight at once (default 4, or jobs; at most checkpoint_jobs checkpoints, default 1)')
    .option('--sleep <seconds>', 'pause between the end of a download and the next file from the same site (default 5, or sleep_between_downloads)')
    .option('--failures <file>', 'failures CSV to write (default: failures.csv beside the history; removed when nothing failed)')
    .option('--summary-json <file>', 'also write the summary as JSON')
    .option('--dry-run', 'show the plan and exit without downloading', false)
    .option('--repair', "verify the files that are there (as 'dlr verify') and fetch the missing and corrupt ones again; each old file stays until its replacement is verified", false)
    .option('-q, --quiet', 'print only trouble: failures, warnings and then the summary; nothing at all when nothing failed', false)
    .option('--json', 'newline-delimited JSON events on stdout (plan, start, retry, resume, done, skip, fail, origin pauses; the summary last)', false)
    .option('--metrics-file <file>', 'write a Prometheus textfile for node_exporter after the run (config metrics_file)')
    .option('--notify <url>', 'POST a JSON message ({"text": …}, Slack/Discord-compatible) at the end of the run (config notify_url)')
    .option('--notify-on <when>', 'failure (default) or always (config notify_on)')
    .option('--coordinator <url>', 'join a fleet coordinated by Redis, redis://[user:pass@]host:port[/db] (or $DLR_COORDINATOR, coordinator.url): one shared budget per origin, each file fetched by one member');
  addRequestOptions(cmd);
  addHistoryOptions(cmd);
  addPolicyOptions(cmd);
  cmd.action(async (target: string, flags: RedownloadFlags) => {
    const { runRedownload } = await import('./redownload-run.js');
    setExit(await runRedownload(target, flags, io));
  });
}
