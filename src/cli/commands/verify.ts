// The `verify` command's flags and help. What it does lives in verify-run.ts,
// loaded only when the command runs: starting one command does not load the
// code and libraries of the others (start-up time counts in every run).

import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import type { ContextFlags } from '../run-context.js';
import { addHistoryOptions } from './history-options.js';
import { addRequestOptions } from './request-options.js';

export interface VerifyFlags extends ContextFlags {
  readonly offline?: boolean;
  readonly json?: boolean;
  readonly repair?: boolean;
  readonly quiet?: boolean;
}

export function registerVerify(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const cmd = program
    .command('verify')
    .description("re-hash the history's files on disk against the sources' SHA-256; exit 1 if any is missing or corrupt")
    .option('--offline', 'use only the hashes remembered from earlier runs; ask no site', false)
    .option('--json', 'print the results as JSON on stdout', false)
    .option('--repair', 'then fetch the missing and corrupt files again (as redownload --repair); each old file stays until its replacement is verified', false)
    .option('-q, --quiet', 'with --repair: print only trouble and the summary', false);
  addRequestOptions(cmd);
  addHistoryOptions(cmd);
  cmd.action(async (flags: VerifyFlags) => {
    const { runVerify } = await import('./verify-run.js');
    setExit(await runVerify(flags, io));
  });
}
