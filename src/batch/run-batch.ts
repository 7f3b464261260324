import type { Dispatcher } from 'undici';
import { download } from '../engine/download.js';
import type { DownloadResult } from '../engine/types.js';
import { redactUrl } from '../http/credentials.js';
import type { PlanEntry } from '../history/plan.js';
import type { InvalidRow } from '../history/read-history.js';
import type { ResolvedPolicy } from '../options.js';
import { sleep } from '../util/sleep.js';
import type { BatchEvent, BatchItem, BatchOutcome } from './types.js';

export interface BatchOptions {
  readonly entries: readonly PlanEntry[];
  /** Rows that failed validation; reported as failed `invalid-row` items. */
  readonly invalid: readonly InvalidRow[];
  readonly policy: ResolvedPolicy;
  readonly dispatcher: Dispatcher;
  /** Pause after each successful download unless it was the last (the seed's sleep_between_downloads). */
  readonly pauseBetweenMs: number;
  /** Replace existing files (the old one stays until the new one is complete). */
  readonly force: boolean;
  /** Request headers for a URL, e.g. the API key for its own origin. */
  readonly headersFor?: (url: URL) => Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: BatchEvent) => void;
}

/**
 * Runs the plan one file at a time, in order. Never throws for a failed file:
 * every entry ends as an item with a result, including the ones a signal
 * kept from starting (code `interrupted`), so the failures CSV lists them.
 */
export async function runBatch(options: BatchOptions): Promise<BatchOutcome> {
  const startedAt = new Date();
  const t0 = performance.now();
  const emit = (event: BatchEvent) => options.onEvent?.(event);
  const items: BatchItem[] = options.invalid.map(({ row, line, error }) => ({
    subject: { ...row, line },
    result: notAttempted(row.url, { code: error.code, message: error.message }),
    finishedAt: startedAt,
  }));
  const total = options.entries.length;
  let interrupted = false;

  for (const [i, entry] of options.entries.entries()) {
    const index = i + 1;
    if (options.signal?.aborted) {
      interrupted = true;
      items.push({ subject: entry, result: notAttempted(entry.url, { code: 'interrupted', message: 'not started: interrupted' }), finishedAt: new Date() });
      continue;
    }
    emit({ type: 'item-start', index, total, entry });
    const url = safeUrl(entry.url);
    const result = await download(
      {
        url: entry.url,
        dest: entry.path === undefined ? { dir: entry.dir } : { file: entry.path },
        headers: url && options.headersFor ? options.headersFor(url) : {},
        overwrite: options.force,
      },
      {
        policy: options.policy,
        dispatcher: options.dispatcher,
        signal: options.signal,
        onEvent: (event) => emit({ type: 'item-progress', index, total, event }),
      },
    );
    const item: BatchItem = { subject: { ...entry, path: result.path ?? entry.path }, result, finishedAt: new Date() };
    items.push(item);
    emit({ type: 'item-end', index, total, item });
    if (result.status === 'failed' && result.error.code === 'interrupted') {
      interrupted = true;
      continue;
    }
    if (result.status === 'done' && index < total && options.pauseBetweenMs > 0) {
      emit({ type: 'pause', ms: options.pauseBetweenMs });
      try {
        await sleep(options.pauseBetweenMs, options.signal);
      } catch {
        interrupted = true;
      }
    }
  }
  return { items, interrupted, startedAt, elapsedMs: performance.now() - t0 };
}

function notAttempted(url: string, error: { code: Extract<DownloadResult, { status: 'failed' }>['error']['code']; message: string }): DownloadResult {
  return { status: 'failed', url: redactUrl(url), path: undefined, attempts: 0, retries: 0, bytesFetched: 0, durationMs: 0, error };
}

function safeUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}
