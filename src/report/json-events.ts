import type { RunEvent } from '../app/redownload.js';
import type { BatchSummary } from '../batch/summary.js';
import type { DownloadResult } from '../engine/types.js';
import { redactUrl } from '../http/credentials.js';

/** Progress of a transfer goes into the stream at most this often per file (the log's heartbeat too). */
export const DEFAULT_PROGRESS_EVERY_MS = 5 * 60_000;

/**
 * `--json`: the run as newline-delimited JSON on stdout, one object per line,
 * each with a `type`, so a script reads what the log says without scraping
 * it. The same events the reporters render, in the order they happen; the
 * last line of a run that finished is `summary` (or `error` when it stopped
 * with one). Every URL is redacted, as in the log.
 */
export class JsonEventStream {
  readonly #write: (line: string) => void;
  readonly #progressEveryMs: number;
  /** Per file in flight: when its progress was last written. */
  readonly #lastProgress = new Map<number, number>();

  constructor(write: (line: string) => void, options: { readonly progressEveryMs?: number } = {}) {
    this.#write = write;
    this.#progressEveryMs = options.progressEveryMs ?? DEFAULT_PROGRESS_EVERY_MS;
  }

  #emit(object: Record<string, unknown>): void {
    this.#write(`${JSON.stringify({ time: new Date().toISOString(), ...object })}\n`);
  }

  event(event: RunEvent): void {
    const line = this.#describe(event);
    if (line !== undefined) this.#emit(line);
  }

  /** The last line of a run that finished: the summary, the exit code and the failures CSV. */
  summary(summary: BatchSummary, extra: { readonly exitCode: number; readonly failuresCsv: string | null }): void {
    this.#emit({ type: 'summary', exitCode: extra.exitCode, failuresCsv: extra.failuresCsv, ...summary });
  }

  /** The last line of a run that stopped with an error of its own (lock held, bad history, bad flag). */
  error(code: string, message: string, exitCode: number): void {
    this.#emit({ type: 'error', code, message: redactUrl(message), exitCode });
  }

  /** A planned file (`--dry-run --json`): what would be fetched, in plan order. */
  planned(index: number, total: number, entry: { readonly url: string; readonly type: string; readonly path?: string | undefined; readonly dir: string }): void {
    this.#emit({ type: 'planned', index, total, modelType: entry.type, url: redactUrl(entry.url), path: entry.path ?? null, dir: entry.dir });
  }

  #describe(event: RunEvent): Record<string, unknown> | undefined {
    switch (event.type) {
      case 'plan':
        return { type: 'plan', files: event.files, present: event.present, invalid: event.invalid, jobs: event.jobs, history: event.history };
      case 'item-start':
        this.#lastProgress.set(event.index, Date.now());
        return {
          type: 'start',
          index: event.index,
          total: event.total,
          modelType: event.entry.type,
          url: redactUrl(event.entry.url),
          path: event.entry.path ?? null,
          dir: event.entry.dir,
        };
      case 'item-progress': {
        const at = { index: event.index, total: event.total };
        const e = event.event;
        switch (e.type) {
          case 'retry':
            return { type: 'retry', ...at, retry: e.retry, delayMs: Math.round(e.delayMs), code: e.code, reason: redactUrl(e.message) };
          case 'transfer':
            this.#lastProgress.set(event.index, Date.now());
            return e.offset > 0 ? { type: 'resume', ...at, path: e.path, offset: e.offset, size: e.total ?? null } : undefined;
          case 'restart':
            return { type: 'restart', ...at, path: e.path, reason: e.reason };
          case 'progress': {
            const now = Date.now();
            if (now - (this.#lastProgress.get(event.index) ?? now) < this.#progressEveryMs) return undefined;
            this.#lastProgress.set(event.index, now);
            return { type: 'progress', ...at, path: e.path, bytes: e.bytes, size: e.total ?? null, bytesPerSec: Math.round(e.bytesPerSec) };
          }
          default:
            return undefined;
        }
      }
      case 'item-end':
        this.#lastProgress.delete(event.index);
        return { ...resultFields(event.item.result), index: event.index, total: event.total, modelType: event.item.subject.type ?? null };
      case 'pause':
        return { type: 'pause', index: event.index, total: event.total, ms: Math.round(event.ms) };
      case 'origin-pause':
        return { type: event.type, origin: event.origin, ms: Math.round(event.ms), status: event.status };
      case 'origin-down':
        return { type: event.type, origin: event.origin, retryInMs: Math.round(event.retryInMs), code: event.code, message: redactUrl(event.message) };
      case 'origin-dead':
        return { type: event.type, origin: event.origin, code: event.code, message: redactUrl(event.message) };
      case 'info':
      case 'warn':
      case 'notice':
        return { type: event.type, text: redactUrl(event.text) };
    }
  }
}

/** `done` / `skip` / `fail` with what the log line says, as fields. */
function resultFields(result: DownloadResult): Record<string, unknown> {
  const common = {
    url: redactUrl(result.url),
    path: result.path ?? null,
    bytes: result.bytesFetched,
    retries: result.retries,
    attempts: result.attempts,
    durationMs: Math.round(result.durationMs),
  };
  switch (result.status) {
    case 'done':
      return { type: 'done', ...common, size: result.size, verified: result.verified };
    case 'skipped':
      return { type: 'skip', ...common, reason: result.reason };
    case 'failed':
      return { type: 'fail', ...common, code: result.error.code, message: redactUrl(result.error.message) };
  }
}
