import type { BatchSummary } from '../../batch/summary.js';
import { formatBytes, formatDuration } from '../../util/units.js';

/** The end-of-run summary as lines, the same on a terminal and in a log. */
export function summaryLines(summary: BatchSummary): string[] {
  const rate = summary.successRate === null ? 'n/a (nothing attempted)' : `${(summary.successRate * 100).toFixed(1)}%`;
  const codes = Object.entries(summary.failuresByCode)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
  return [
    `summary: ${summary.interrupted ? 'interrupted' : 'finished'}`,
    `  success   ${summary.success} (verified against a published SHA-256: ${summary.verified})`,
    `  skipped   ${summary.skipped}`,
    `  failed    ${summary.failed}${codes ? ` (${codes})` : ''}`,
    ...(summary.notStarted > 0 || summary.interrupted
      ? [`  not started ${summary.notStarted} (stopped before their turn; in the failures CSV as interrupted, for the next run)`]
      : []),
    `  retries   ${summary.retries.total} (files recovered by a retry: ${summary.retries.successful})`,
    `  total     ${summary.total}`,
    `  success rate ${rate} of the files ${summary.notStarted > 0 ? 'tried' : 'not skipped'}${byTypeText(summary)}`,
    `  fetched   ${formatBytes(summary.bytes)} in ${formatDuration(summary.elapsedMs)}`,
    ...summary.origins.map(originLine),
  ];
}

/** `  origin https://civitai.com: 42 requests, 429 x2, waited 1m 30s, learned 30/min`. */
function originLine(o: BatchSummary['origins'][number]): string {
  const throttled = Object.entries(o.throttled).map(([status, n]) => `${status} x${n}`);
  const parts = [
    `${o.requests} request${o.requests === 1 ? '' : 's'}`,
    ...throttled,
    ...(o.waitedMs >= 1000 ? [`waited ${formatDuration(o.waitedMs)}`] : []),
    ...(o.learnedRequestsPerMinute !== null ? [`learned ${o.learnedRequestsPerMinute}/min`] : []),
  ];
  return `  origin    ${o.origin}: ${parts.join(', ')}`;
}

/** ` (checkpoint 96.0%, lora 100.0%)`: only types with something attempted. */
function byTypeText(summary: BatchSummary): string {
  const parts = Object.entries(summary.byType)
    .filter(([, c]) => c.successRate !== null)
    .map(([type, c]) => `${type} ${((c.successRate ?? 0) * 100).toFixed(1)}%`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}
