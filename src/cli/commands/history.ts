// The `history` command's flags and help. What it does lives in history-run.ts,
// loaded only when the command runs: starting one command does not load the
// code and libraries of the others (start-up time counts in every run).

import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import type { ContextFlags } from '../run-context.js';
import { addHistoryOptions } from './history-options.js';

export interface HistoryFlags extends ContextFlags {
  readonly json?: boolean;
  readonly missing?: boolean;
  readonly sizes?: boolean;
}

export function registerHistory(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const cmd = program
    .command('history')
    .description('show the deduplicated, sorted plan: each entry, whether it is already present, its size where known without a stat (a part, or what the source published; --sizes: on disk) and its destination')
    .option('--missing', 'only the entries whose file is not on disk', false)
    .option('--sizes', 'the size on disk of every present file (a stat per file; without it: sizes known without one)', false)
    .option('--json', 'print JSON on stdout', false);
  addHistoryOptions(cmd);
  cmd.action(async (flags: HistoryFlags) => {
    const { runHistory } = await import('./history-run.js');
    setExit(await runHistory(flags, io));
  });
}
