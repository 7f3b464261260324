import { PlainReporter } from './plain.js';
import type { Reporter } from './reporter.js';
import { TtyReporter } from './tty.js';

/**
 * Bars only for a person at a terminal; colours only there too, and never
 * with NO_COLOR (no-color.org: any non-empty value).
 */
export function chooseReporter(
  stream: NodeJS.WritableStream & { isTTY?: boolean },
  env: NodeJS.ProcessEnv,
  quiet: boolean,
): Reporter {
  const tty = stream.isTTY === true && env.TERM !== 'dumb';
  if (!tty) return new PlainReporter({ stream, quiet, color: false });
  const color = !(env.NO_COLOR !== undefined && env.NO_COLOR !== '');
  return new TtyReporter({ stream, quiet, color });
}
