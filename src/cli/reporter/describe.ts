import type { DownloadEvent, DownloadResult } from '../../engine/types.js';
import type { OriginEvent } from '../../limiter/memory-limiter.js';
import { formatBytes, formatDuration } from '../../util/units.js';

/** Plain-text wording shared by both reporters, so the log and the terminal say the same things. */
export function describeRetry(event: Extract<DownloadEvent, { type: 'retry' }>): string {
  return `retry ${event.retry} in ${formatDuration(event.delayMs)} [${event.code}] ${event.message}`;
}

/** `byte 322961408 (308.0 MiB)`: exact for whoever checks the part, and readable. */
export function describeOffset(offset: number): string {
  return `byte ${offset} (${formatBytes(offset)})`;
}

/**
 * `resumedFrom` is where this run's first transfer of the file started (the
 * bytes an earlier run left in the part). Time and speed are always this
 * run's and cover only what this run fetched: "400 MiB in 6s" for a file of
 * which 92 MiB came now would be a speed four times too high.
 */
export function describeResult(result: DownloadResult, resumedFrom?: number): string {
  const where = result.path ?? result.url;
  switch (result.status) {
    case 'done': {
      const secs = result.durationMs / 1000;
      const rate = secs > 0 ? ` (${formatBytes(Math.round(result.bytesFetched / secs))}/s)` : '';
      const retries = result.retries > 0 ? `, ${result.retries} ${result.retries === 1 ? 'retry' : 'retries'}` : '';
      const took = `in ${formatDuration(result.durationMs)}${rate}${retries}`;
      if (resumedFrom !== undefined && resumedFrom > 0) {
        return `done ${where} ${formatBytes(result.size)}, resumed from ${formatBytes(resumedFrom)}: fetched ${formatBytes(result.bytesFetched)} ${took}`;
      }
      // Fetched more than the file (a restart), or less (the part was already whole): say what came.
      const fetched = result.bytesFetched === result.size ? '' : ` (fetched ${formatBytes(result.bytesFetched)})`;
      return `done ${where} ${formatBytes(result.size)}${fetched} ${took}`;
    }
    case 'skipped':
      return `skip ${where} (already exists; --force to replace)`;
    case 'failed':
      return `fail ${where} [${result.error.code}] ${result.error.message}`;
  }
}

/** An origin-wide state change, one line for both reporters. */
export function describeOrigin(event: OriginEvent): string {
  switch (event.type) {
    case 'origin-pause':
      return `pause ${event.origin} for ${formatDuration(event.ms)}: HTTP ${event.status}; no new request goes there until then`;
    case 'origin-down':
      return `unreachable ${event.origin} [${event.code}] ${event.message}; its files wait, next try in ${formatDuration(event.retryInMs)}`;
    case 'origin-dead':
      return `giving up on ${event.origin} [${event.code}] ${event.message}; its files fail`;
  }
}
