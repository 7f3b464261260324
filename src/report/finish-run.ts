import { basename } from 'node:path';
import type { BatchSummary } from '../batch/summary.js';
import type { BatchItem } from '../batch/types.js';
import { toDlrError } from '../errors.js';
import type { NetworkOptions } from '../http/dispatcher.js';
import { redactUrl } from '../http/credentials.js';
import { writeMetricsFile } from './metrics.js';
import { notifyPayload, sendNotify, shouldNotify, type NotifyOn, type RunReport } from './notify.js';

/** Where a run's operator outputs go; each is optional. */
export interface OperatorOutputs {
  readonly metricsPath: string | undefined;
  readonly notifyUrl: string | undefined;
  readonly notifyOn: NotifyOn;
  readonly network: NetworkOptions;
  /** For tests: the webhook's deadline. */
  readonly notifyTimeoutMs?: number;
}

/** How the run ended, as the metrics file and the webhook need it. */
export interface RunEnd {
  readonly command: string;
  readonly exitCode: number;
  readonly summary: BatchSummary | undefined;
  /** The run stopped with an error of its own (no summary). */
  readonly error?: unknown;
  readonly items?: readonly BatchItem[];
  readonly failuresCsv?: string | null;
  /** Wall time, when there is no summary to take it from. */
  readonly elapsedMs?: number;
}

/**
 * What a run leaves for operators once it is over: the Prometheus textfile
 * and the webhook. Both are best effort: a failure is a warning through
 * `warn`, never a change of the run's exit code.
 */
export async function finishRun(outputs: OperatorOutputs, end: RunEnd, warn: (text: string) => void): Promise<void> {
  if (outputs.metricsPath === undefined && outputs.notifyUrl === undefined) return;
  const report = runReport(end);
  if (outputs.metricsPath !== undefined) {
    try {
      await writeMetricsFile(outputs.metricsPath, {
        endedAt: new Date(),
        succeeded: report.outcome === 'ok',
        summary: end.summary,
        ...(end.elapsedMs !== undefined ? { elapsedMs: end.elapsedMs } : {}),
      });
    } catch (error) {
      warn(`cannot write the metrics file ${outputs.metricsPath}: ${toDlrError(error, { path: outputs.metricsPath }).message}`);
    }
  }
  if (outputs.notifyUrl !== undefined && shouldNotify(outputs.notifyOn, report)) {
    const problem = await sendNotify(outputs.notifyUrl, notifyPayload(report), {
      network: outputs.network,
      ...(outputs.notifyTimeoutMs !== undefined ? { timeoutMs: outputs.notifyTimeoutMs } : {}),
    });
    if (problem !== undefined) warn(problem);
  }
}

function runReport(end: RunEnd): RunReport {
  const s = end.summary;
  let outcome: RunReport['outcome'];
  if (end.error !== undefined || s === undefined) outcome = 'error';
  else if (s.interrupted) outcome = 'interrupted';
  else if (s.failed > 0 || s.notStarted > 0 || end.exitCode !== 0) outcome = 'failed';
  else outcome = 'ok';
  const failedFiles = (end.items ?? [])
    .filter((item) => item.result.status === 'failed' && item.notStarted !== true)
    .map((item) => {
      const r = item.result as Extract<BatchItem['result'], { status: 'failed' }>;
      const path = r.path ?? item.subject.path;
      return { name: path !== undefined ? basename(path) : redactUrl(item.subject.url), code: r.error.code, message: r.error.message };
    });
  return {
    command: end.command,
    outcome,
    exitCode: end.exitCode,
    summary: s,
    ...(end.error !== undefined ? { error: toDlrError(end.error).message } : {}),
    ...(end.failuresCsv !== undefined ? { failuresCsv: end.failuresCsv } : {}),
    failedFiles,
  };
}
