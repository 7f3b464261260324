import { open } from 'node:fs/promises';
import type { BatchSummary } from '../batch/summary.js';
import { writeFileAtomic } from '../util/fs.js';

/**
 * A run as a Prometheus textfile for node_exporter's textfile collector.
 *
 * Prometheus' advice for batch jobs: export when the job last ran and last
 * succeeded as timestamps (gauges, not "time since"), and how long it took;
 * an alert then compares `time()` with the last success. Everything here is
 * about the one run that just ended, so every metric is a gauge (a `_total`
 * counter would claim to grow across runs, which a rewritten file cannot).
 * Units are in the names (`_seconds`, `_bytes`), after the `dlr_` prefix.
 */
export interface RunMetrics {
  /** When the run ended. */
  readonly endedAt: Date;
  /** Nothing failed, nothing was left unstarted, no signal, no error. */
  readonly succeeded: boolean;
  /** The run's summary; undefined when the run stopped with an error before it had one. */
  readonly summary: BatchSummary | undefined;
  /** Wall time of the run, when there is no summary to take it from. */
  readonly elapsedMs?: number;
}

/** The statuses an origin answers when it wants less traffic; always written (0 too), so a series does not vanish on a calm night. */
const THROTTLE_STATUSES = ['429', '503'] as const;

/** A textfile is a few KiB; an old file bigger than this is not ours and is not parsed. */
const MAX_OLD_FILE_BYTES = 1 << 20;

export function metricsText(run: RunMetrics, lastSuccessSeconds: number | undefined): string {
  const out: string[] = [];
  const gauge = (name: string, help: string, samples: ReadonlyArray<readonly [labels: Record<string, string>, value: number]>) => {
    out.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} gauge`);
    for (const [labels, value] of samples) out.push(`${name}${labelText(labels)} ${numberText(value)}`);
  };
  const now = run.endedAt.getTime() / 1000;
  const s = run.summary;
  gauge('dlr_last_run_timestamp_seconds', 'When the last dlr run ended (Unix time).', [[{}, now]]);
  gauge(
    'dlr_last_success_timestamp_seconds',
    'When the last dlr run in which nothing failed ended (Unix time); 0 = none seen yet.',
    [[{}, run.succeeded ? now : (lastSuccessSeconds ?? 0)]],
  );
  gauge('dlr_last_run_success', '1 if nothing failed in the last run, else 0.', [[{}, run.succeeded ? 1 : 0]]);
  gauge('dlr_run_duration_seconds', 'Wall time of the last run.', [[{}, (s?.elapsedMs ?? run.elapsedMs ?? 0) / 1000]]);
  if (s !== undefined) {
    gauge('dlr_run_files', 'Files of the last run by outcome (not_started: a signal stopped the run before their turn).', [
      [{ outcome: 'done' }, s.success],
      [{ outcome: 'skipped' }, s.skipped],
      [{ outcome: 'failed' }, s.failed],
      [{ outcome: 'not_started' }, s.notStarted],
    ]);
    gauge('dlr_run_bytes', 'Body bytes fetched in the last run.', [[{}, s.bytes]]);
    gauge('dlr_run_retries', 'Waits-and-tries-again in the last run, across all files.', [[{}, s.retries.total]]);
    gauge(
      'dlr_run_requests',
      'Requests the last run sent, per origin.',
      s.origins.map((o) => [{ origin: o.origin }, o.requests] as const),
    );
    gauge(
      'dlr_run_http_responses',
      'Throttling answers (429, 503) the last run got, per origin and status.',
      s.origins.flatMap((o) => THROTTLE_STATUSES.map((status) => [{ origin: o.origin, status }, o.throttled[status] ?? 0] as const)),
    );
    gauge(
      'dlr_run_limiter_wait_seconds',
      'Time requests of the last run waited on the origin limiter (budget, connection slots, pauses, a down origin), per origin.',
      s.origins.map((o) => [{ origin: o.origin }, o.waitedMs / 1000] as const),
    );
  }
  return `${out.join('\n')}\n`;
}

/**
 * Writes the textfile by temp file + rename beside it: the collector may read
 * at any moment and must see the old file or the new, never half. The last
 * success is carried over from the old file when this run did not succeed.
 */
export async function writeMetricsFile(path: string, run: RunMetrics): Promise<void> {
  const previous = run.succeeded ? undefined : await readLastSuccess(path);
  await writeFileAtomic(path, metricsText(run, previous));
}

/** The `dlr_last_success_timestamp_seconds` sample of an earlier file; undefined when there is none (or it is not ours). */
export async function readLastSuccess(path: string): Promise<number | undefined> {
  let text: string;
  try {
    const handle = await open(path, 'r');
    try {
      const buffer = Buffer.alloc(MAX_OLD_FILE_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      text = buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
  const match = /^dlr_last_success_timestamp_seconds(?:\{\})? +([0-9.eE+-]+)\s*$/m.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

function labelText(labels: Record<string, string>): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

/** The exposition format's label value escapes: backslash, double quote, line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escapes backslash and line feed only. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Plain decimal (Go's ParseFloat reads it); whole numbers without a fraction, times to the millisecond. */
function numberText(value: number): string {
  if (!Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? '+Inf' : '-Inf';
  return Number.isInteger(value) ? String(value) : String(Math.round(value * 1000) / 1000);
}
