import { DEFAULT_PROGRESS_EVERY_MS } from '../../report/json-events.js';
import { parseSeconds } from '../../util/units.js';
import { PlainReporter } from './plain.js';
import type { NoticeRoute } from '../io.js';
import type { Reporter } from './reporter.js';

/**
 * Bars only for a person at a terminal; colours only there too, and never
 * with NO_COLOR (no-color.org: any non-empty value). The TTY reporter and its
 * libraries (chalk) load only then: cron runs never pay for them.
 */
export async function chooseReporter(
  stream: NodeJS.WritableStream & { isTTY?: boolean },
  env: NodeJS.ProcessEnv,
  quiet: boolean,
  notices?: NoticeRoute,
): Promise<Reporter> {
  const tty = stream.isTTY === true && env.TERM !== 'dumb';
  if (!tty) return new PlainReporter({ stream, quiet, color: false, notices, progressEveryMs: progressEveryMs(env) });
  const color = !(env.NO_COLOR !== undefined && env.NO_COLOR !== '');
  const { TtyReporter } = await import('./tty.js');
  return new TtyReporter({ stream, quiet, color, notices });
}

/**
 * How often a long transfer's progress is logged in plain mode and in
 * `--json`: every 5 minutes, or `DLR_PROGRESS_INTERVAL` seconds (an
 * undocumented knob for tests, which cannot wait 5 minutes).
 */
export function progressEveryMs(env: NodeJS.ProcessEnv): number {
  const given = env.DLR_PROGRESS_INTERVAL;
  const ms = given === undefined || given === '' ? undefined : parseSeconds(given);
  return ms ?? DEFAULT_PROGRESS_EVERY_MS;
}
