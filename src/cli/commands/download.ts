import type { Command } from 'commander';
import { download } from '../../engine/download.js';
import type { Destination } from '../../engine/types.js';
import { EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError } from '../../errors.js';
import { createDispatcher } from '../../http/dispatcher.js';
import { parseHttpUrl } from '../../http/parse-url.js';
import { resolvePolicy } from '../../options.js';
import { parseHeader, policyFromFlags, type PolicyFlags } from '../parse-flags.js';
import { chooseReporter } from '../reporter/choose.js';
import type { CliIo } from '../io.js';
import { addPolicyOptions } from './policy-options.js';

interface DownloadFlags extends PolicyFlags {
  readonly dir?: string;
  readonly output?: string;
  readonly force?: boolean;
  readonly quiet?: boolean;
  readonly header?: string[];
}

export function registerDownload(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const cmd = program
    .command('download')
    .description('download one URL into a directory (resumable, retried, atomic)')
    .argument('<url>', 'http(s) URL of the file')
    .option('-d, --dir <dir>', 'directory to save into, default the current one (name from Content-Disposition or the URL)')
    .option('-o, --output <file>', 'exact path to save as (instead of --dir)')
    .option('-f, --force', 'replace an existing file (the old one stays until the new one is complete)', false)
    .option('-H, --header <header>', "extra request header 'Name: value' (repeatable)", collect, [])
    .option('-q, --quiet', 'print only failures', false);
  addPolicyOptions(cmd);
  cmd.action(async (url: string, flags: DownloadFlags) => {
    setExit(await runDownload(url, flags, io));
  });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

async function runDownload(url: string, flags: DownloadFlags, io: CliIo): Promise<number> {
  parseHttpUrl(url);
  const policy = resolvePolicy(policyFromFlags(flags));
  if (flags.output !== undefined && flags.dir !== undefined) {
    throw new UsageError('use either --dir or --output, not both');
  }
  const dest: Destination = flags.output !== undefined ? { file: flags.output } : { dir: flags.dir ?? '.' };
  const headers = Object.fromEntries((flags.header ?? []).map(parseHeader));
  const reporter = await chooseReporter(io.stderr, io.env, flags.quiet ?? false);
  const dispatcher = createDispatcher(policy);
  try {
    reporter.begin(url);
    const result = await download(
      { url, dest, headers, overwrite: flags.force ?? false },
      { policy, dispatcher, signal: io.signal, onEvent: (e) => reporter.event(e) },
    );
    reporter.end(result);
    if (result.status !== 'failed' && result.path !== undefined) io.stdout.write(`${result.path}\n`);
    if (result.status === 'failed') {
      if (result.error.code === 'usage') throw new UsageError(result.error.message);
      return result.error.code === 'interrupted' ? EXIT_INTERRUPTED : EXIT_FAILED;
    }
    return EXIT_OK;
  } finally {
    reporter.close();
    await dispatcher.close().catch(() => undefined);
  }
}
