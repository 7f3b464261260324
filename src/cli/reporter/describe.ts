import type { DownloadEvent, DownloadResult } from '../../engine/types.js';
import { formatBytes, formatDuration } from '../../util/units.js';

/** Plain-text wording shared by both reporters, so the log and the terminal say the same things. */
export function describeRetry(event: Extract<DownloadEvent, { type: 'retry' }>): string {
  return `retry ${event.retry} in ${formatDuration(event.delayMs)} [${event.code}] ${event.message}`;
}

export function describeResult(result: DownloadResult): string {
  const where = result.path ?? result.url;
  switch (result.status) {
    case 'done': {
      const secs = result.durationMs / 1000;
      const rate = secs > 0 ? ` (${formatBytes(Math.round(result.bytesFetched / secs))}/s)` : '';
      const retries = result.retries > 0 ? `, ${result.retries} ${result.retries === 1 ? 'retry' : 'retries'}` : '';
      return `done ${where} ${formatBytes(result.size)} in ${formatDuration(result.durationMs)}${rate}${retries}`;
    }
    case 'skipped':
      return `skip ${where} (already exists; --force to replace)`;
    case 'failed':
      return `fail ${where} [${result.error.code}] ${result.error.message}`;
  }
}
