import type { Command } from 'commander';

/** How a run talks and shows itself, as curl and wget users expect; shared by the commands that fetch. */
export function addRequestOptions(cmd: Command): Command {
  return cmd
    .option('-v, --verbose', 'log every request and answer on stderr: method, URL, status, key headers (credentials masked)', false)
    .option('--no-progress', 'no progress bars, even on a terminal: plain log lines')
    .option('--user-agent <ua>', "send this User-Agent on every request instead of dlr's own");
}

/** `--no-progress`: the reporter chooser sees a terminal it must not draw on (as TERM=dumb). */
export function progressEnv(env: NodeJS.ProcessEnv, progress: boolean | undefined): NodeJS.ProcessEnv {
  return progress === false ? { ...env, TERM: 'dumb' } : env;
}
