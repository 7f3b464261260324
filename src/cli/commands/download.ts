// The `download` command's flags and help. What it does lives in download-run.ts,
// loaded only when the command runs: starting one command does not load the
// code and libraries of the others (start-up time counts in every run).

import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import type { ContextFlags } from '../run-context.js';
import { addHistoryOptions } from './history-options.js';
import { addPolicyOptions } from './policy-options.js';
import { addRequestOptions } from './request-options.js';

export interface DownloadFlags extends ContextFlags {
  readonly type?: string;
  readonly filename?: string;
  readonly dir?: string;
  readonly output?: string;
  readonly inputFile?: string;
  readonly force?: boolean;
  readonly quiet?: boolean;
  readonly header?: string[];
  readonly progress?: boolean;
}

export function registerDownload(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const cmd = program
    .command('download')
    .description('download URLs into a directory (resumable, retried, atomic), several at a time as wget -i and aria2c do')
    .argument('[url...]', 'http(s) URLs of the files')
    .option('-i, --input-file <file>', "read URLs from a file, one per line ('#' comments and blank lines skipped; - for stdin)")
    .option('-t, --type <type>', "model type (checkpoint, lora, embedding, …): save into that type's folder and add the URL to the history once done")
    .option('--filename <name>', 'file name to save as (one URL only; default: from Content-Disposition or the URL)')
    .option('-d, --dir <dir>', 'directory to save into, default the current one (name from Content-Disposition or the URL)')
    .option('-o, --output <file>', "exact path to save as (one URL only, instead of --dir); '-' writes the body to stdout: no part file, no resume, no retry once bytes are out")
    .option('-j, --jobs <n>', 'files in flight at once with several URLs (default 4, or jobs)')
    .option('-f, --force', 'replace an existing file (the old one stays until the new one is complete)', false)
    .option('-H, --header <header>', "extra request header 'Name: value' (repeatable)", collect, [])
    .option('-q, --quiet', 'print only failures', false);
  addRequestOptions(cmd);
  addHistoryOptions(cmd);
  addPolicyOptions(cmd);
  cmd.action(async (urls: string[], flags: DownloadFlags) => {
    const { runDownload } = await import('./download-run.js');
    setExit(await runDownload(urls, flags, io));
  });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
