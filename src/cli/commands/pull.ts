// The `pull` command's flags and help; what it does lives in pull-run.ts,
// loaded only when the command runs.

import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import type { ContextFlags } from '../run-context.js';
import { addPolicyOptions } from './policy-options.js';

export interface PullFlags extends ContextFlags {
  readonly dir?: string;
  readonly include?: string[];
  readonly exclude?: string[];
  readonly lock?: string;
  readonly frozen?: boolean;
  readonly quiet?: boolean;
}

export function registerPull(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const cmd = program
    .command('pull')
    .description('put a repository\'s files at one commit under a folder, verified, and record them in a lock file (--frozen installs exactly the lock)')
    .argument('<source>', 'hf:ORG/REPO[@REVISION], a Hugging Face repository URL (…/ORG/REPO[/tree/REVISION]), or civitai:VERSION_ID')
    .requiredOption('-d, --dir <dir>', 'folder to put the files under (their folders in the repository are kept)')
    .option('--include <glob>', "only paths matching this pattern (repeatable; fnmatch-like: * also crosses '/', ?, [abc]; 'onnx/' = everything under onnx)", collect, [])
    .option('--exclude <glob>', 'leave out paths matching this pattern (repeatable)', collect, [])
    .option('--lock <file>', 'lock file to read and write (default ./dlr.lock.json)')
    .option('--frozen', 'install exactly what the lock says: no listing, present matching files cost no request, the lock is never changed', false)
    .option('-j, --jobs <n>', 'files in flight at once (default 4, or jobs from the config)')
    .option('--coordinator <url>', 'share the request budget of a fleet coordinated by Redis, redis://host:port (or $DLR_COORDINATOR, coordinator.url): N containers pulling at start-up stay within one budget')
    .option('--config <file>', 'config JSON (default: $DLR_CONFIG, ./dlr.config.json, then $XDG_CONFIG_HOME/dlr/config.json)')
    .option('-q, --quiet', 'print only failures and the last line', false);
  addPolicyOptions(cmd);
  cmd.action(async (source: string, flags: PullFlags) => {
    const { runPull } = await import('./pull-run.js');
    setExit(await runPull(source, flags, io));
  });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
