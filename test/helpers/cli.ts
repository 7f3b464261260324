import { spawn, type ChildProcess } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/dlr.js', import.meta.url));

export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment of a cron job: no proxies, no colour forcing, no TTY. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/_proxy$/i.test(k) || /^(FORCE_COLOR|NO_COLOR|DLR_|CIVITAI_|HF_)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/** Spawns the built CLI; `onSpawn` gets the child (to signal it mid-run). Bounded by `timeoutMs`. */
export function runCli(
  args: readonly string[],
  options: {
    cwd?: string;
    env?: Record<string, string>;
    timeoutMs?: number;
    onSpawn?: (child: ChildProcess) => void;
    /** Run this instead of `node bin/dlr.js args` (e.g. dlr under unshare). */
    command?: readonly string[];
  } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const [file, ...argv] = options.command ?? [process.execPath, BIN, ...args];
    const child = spawn(file!, argv, {
      cwd: options.cwd,
      env: cleanEnv(options.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`dlr ${args.join(' ')} did not finish in ${options.timeoutMs ?? 15_000} ms\n${stderr}`));
    }, options.timeoutMs ?? 15_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    options.onSpawn?.(child);
  });
}

/** Fast policy flags for the CLI. */
export const FAST = ['--retry-delays', '0.01,0.01,0.01', '--speed-floor', '0', '--timeout', '3', '--connect-timeout', '2'];

// eslint-disable-next-line no-control-regex
export const ANSI = /\u001b\[/;

/** An `onSpawn` that sends `signal` (`times` times) as soon as the part file holds bytes: a kill mid-body. */
export function signalWhenPartHasBytes(partPath: string, signal: NodeJS.Signals, times = 1): (child: ChildProcess) => void {
  return (child) => {
    let fired = false;
    const poll = setInterval(() => {
      void stat(partPath).then(
        (st) => {
          // Several stats can be in flight; only the first sighting signals.
          if (st.size === 0 || fired) return;
          fired = true;
          clearInterval(poll);
          for (let i = 0; i < times; i++) child.kill(signal);
        },
        () => undefined,
      );
    }, 10);
    child.on('close', () => clearInterval(poll));
  };
}
