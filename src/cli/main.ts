import { setMaxListeners } from 'node:events';
import { Command, CommanderError } from 'commander';
import { DlrError, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, exitCodeFor, exitCodeForSignal } from '../errors.js';
import { VERSION } from '../version.js';
import { registerCompletion, registerMan } from './commands/completion.js';
import { registerDownload } from './commands/download.js';
import { registerFleet } from './commands/fleet.js';
import { registerHistory } from './commands/history.js';
import { registerPull } from './commands/pull.js';
import { registerRedownload } from './commands/redownload.js';
import { registerVerify } from './commands/verify.js';
import { NoticeRoute, type CliIo } from './io.js';

const EXIT_CODES_HELP = `
Exit codes:
  0    everything done (or already present)
  1    at least one file failed (see the message or the failures CSV)
  2    usage, configuration or input error
  75   another dlr run holds the lock, or the fleet's coordinator (Redis) cannot be reached; try later
  130  interrupted by SIGINT (Ctrl-C); parts are kept for resume
  143  stopped by SIGTERM; parts are kept for resume`;

/**
 * The one place that owns the exit code: everything below returns results
 * or throws typed errors; here they become a one-line message and a number.
 * A stack trace appears only with DLR_DEBUG=1.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const controller = new AbortController();
  // Every wait and request in flight listens on this one signal: with -j 11 or
  // -x 16 that is more than Node's default of 10 listeners, and its leak
  // warning would break -q's promise of silence on a good night.
  setMaxListeners(1_000, controller.signal);
  let stoppedBy: NodeJS.Signals | undefined;
  const notices = new NoticeRoute((text) => {
    const stamp = process.stderr.isTTY ? '\n' : `${new Date().toISOString()} `;
    process.stderr.write(`${stamp}${text}\n`);
  });
  const onSignal = (name: NodeJS.Signals) => {
    if (stoppedBy !== undefined) {
      // A progress bar hides the cursor and owns the line: clear it and show
      // the cursor, so the shell prompt comes back on a clean line.
      if (process.stderr.isTTY) process.stderr.write('\r\u001b[2K\u001b[?25h');
      process.exit(exitCodeForSignal(name));
    }
    stoppedBy = name;
    notices.say(`${name}: stopping; parts are kept for resume (again to quit at once)`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A log reader that goes away (`| head`, a dead `logger`) must not take the
  // batch with it: Node turns a write to a closed pipe into an 'error' event,
  // fatal when nobody listens. The output is lost; the work, the summary and
  // the failures CSV are not.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  const io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: controller.signal, notices };
  try {
    const code = await run(argv, io);
    // The commands say "interrupted"; which signal it was decides the number.
    return code === EXIT_INTERRUPTED && stoppedBy !== undefined ? exitCodeForSignal(stoppedBy) : code;
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
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: usageLine(io, 'dlr'),
    })
    .addHelpText('after', EXIT_CODES_HELP);
  const setExit = (code: number) => {
    exitCode = code;
  };
  registerRedownload(program, io, setExit);
  registerDownload(program, io, setExit);
  registerHistory(program, io, setExit);
  registerPull(program, io, setExit);
  registerVerify(program, io, setExit);
  registerCompletion(program, io, setExit);
  registerMan(program, io, setExit, EXIT_CODES_HELP);
  registerFleet(program, io, setExit);
  // Each subcommand names its own help: that is where its flags are listed.
  for (const cmd of program.commands) cmd.configureOutput({ outputError: usageLine(io, `dlr ${cmd.name()}`) });
  try {
    await program.parseAsync([...argv]);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has already printed its one-line message (usageLine) or the help.
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

/**
 * Commander's parse errors as one line in dlr's own form, naming the help to
 * read: `dlr: unknown option '--frobnicate' (see dlr download --help)`.
 * Its "(Did you mean …?)" suggestion stays, on the same line.
 */
function usageLine(io: CliIo, command: string): (text: string) => void {
  return (text) => {
    const message = text
      .replace(/^error:\s*/i, '')
      .replace(/\s*\n\s*\(Did you mean (.*)\)\s*$/, '; did you mean $1')
      .replace(/\s*\n\s*/g, ' ')
      .trim();
    io.stderr.write(`dlr: ${message} (see ${command} --help)\n`);
  };
}
