import { Command, CommanderError } from 'commander';
import { DlrError, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, exitCodeFor } from '../errors.js';
import { VERSION } from '../version.js';
import { registerDownload } from './commands/download.js';
import { registerHistory } from './commands/history.js';
import { registerRedownload } from './commands/redownload.js';
import { registerVerify } from './commands/verify.js';
import type { CliIo } from './io.js';

const EXIT_CODES_HELP = `
Exit codes:
  0    everything done (or already present)
  1    at least one file failed (see the message or the failures CSV)
  2    usage, configuration or input error
  75   another dlr run holds the lock; try later
  130  interrupted by SIGINT/SIGTERM (parts are kept for resume)`;

/**
 * The one place that owns the exit code: everything below returns results
 * or throws typed errors; here they become a one-line message and a number.
 * A stack trace appears only with DLR_DEBUG=1.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (name: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      // A progress bar hides the cursor; exiting past its cleanup must not leave it hidden.
      if (process.stderr.isTTY) process.stderr.write('\u001b[?25h\n');
      process.exit(EXIT_INTERRUPTED);
    }
    const stamp = process.stderr.isTTY ? '\n' : `${new Date().toISOString()} `;
    process.stderr.write(`${stamp}${name}: stopping; parts are kept for resume (again to quit at once)\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A log reader that goes away (`| head`, a dead `logger`) must not take the
  // batch with it: Node turns a write to a closed pipe into an 'error' event,
  // fatal when nobody listens. The output is lost; the work, the summary and
  // the failures CSV are not.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  const io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: controller.signal };
  try {
    return await run(argv, io);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode = 0;
  const program = new Command()
    .name('dlr')
    .description('Keeps AI model files downloaded and verified, unattended, under upstream rate limits.')
    .version(VERSION, '-V, --version')
    .showHelpAfterError('(run dlr --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .addHelpText('after', EXIT_CODES_HELP);
  const setExit = (code: number) => {
    exitCode = code;
  };
  registerRedownload(program, io, setExit);
  registerDownload(program, io, setExit);
  registerHistory(program, io, setExit);
  registerVerify(program, io, setExit);
  try {
    await program.parseAsync([...argv]);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has already printed its one-line message (or the help).
      return error.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (error instanceof DlrError) {
      io.stderr.write(`dlr: ${error.message}\n`);
      if (io.env.DLR_DEBUG) io.stderr.write(`${error.stack ?? ''}\n`);
      return exitCodeFor(error);
    }
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`dlr: internal error: ${message}\n`);
    if (io.env.DLR_DEBUG) io.stderr.write(`${error instanceof Error ? error.stack : ''}\n`);
    return EXIT_FAILED;
  }
}
