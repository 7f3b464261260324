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
  if (!tty) return new PlainReporter({ stream, quiet, color: false, notices });
  const color = !(env.NO_COLOR !== undefined && env.NO_COLOR !== '');
  const { TtyReporter } = await import('./tty.js');
  return new TtyReporter({ stream, quiet, color, notices });
}
