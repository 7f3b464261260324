// The `redownload` command's flags and help. What it does lives in redownload-run.ts,
// loaded only when the command runs: starting one command does not load the
// code and libraries of the others (start-up time counts in every run).

import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import type { ContextFlags } from '../run-context.js';
import { addHistoryOptions } from './history-options.js';
import { addPolicyOptions } from './policy-options.js';

export interface RedownloadFlags extends ContextFlags {
  readonly force?: boolean;
  readonly yes?: boolean;
  readonly failures?: string;
  readonly summaryJson?: string;
  readonly dryRun?: boolean;
  readonly quiet?: boolean;
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
    .option('-q, --quiet', 'print only failures and the summary', false)
    .option('--coordinator <url>', 'join a fleet coordinated by Redis, redis://[user:pass@]host:port[/db] (or $DLR_COORDINATOR, coordinator.url): one shared budget per origin, each file fetched by one member');
  addHistoryOptions(cmd);
  addPolicyOptions(cmd);
  cmd.action(async (target: string, flags: RedownloadFlags) => {
    const { runRedownload } = await import('./redownload-run.js');
    setExit(await runRedownload(target, flags, io));
  });
}
