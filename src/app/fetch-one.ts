import { DlrError, toDlrError } from '../errors.js';
import { download } from '../engine/download.js';
import type { Destination, DownloadEvent, DownloadResult, WriteGuard } from '../engine/types.js';
import { redactUrl } from '../http/credentials.js';
import type { HttpClient } from '../http/client.js';
import { RetryBudget } from '../policy/with-retries.js';
import { resolveSource } from '../sources/resolve-source.js';
import type { ResolvedFile, SourceSettings } from '../sources/types.js';

export interface FetchOneOptions {
  readonly client: HttpClient;
  readonly sources: SourceSettings;
  /** Where the file goes, once the source has said what it is (its name, its model type). */
  readonly destination: (resolved: ResolvedFile) => Destination;
  /** Runs after the destination is chosen and before the transfer (to take a folder's lock). */
  readonly beforeDownload?: (destination: Destination) => Promise<void>;
  readonly overwrite: boolean;
  /** Request headers of the user's own (`-H`), over the source's. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
  /** Fleet mode: the lease held on the file, for the engine to check before writing and renaming. */
  readonly guard?: WriteGuard;
  /** Everything the file's fetch reports, its lookups' retries included. */
  readonly onEvent?: (event: DownloadEvent) => void;
}

export interface FetchOneOutcome {
  readonly result: DownloadResult;
  /** What the source said about the URL (for the hash cache and the history); undefined when resolving failed. */
  readonly resolved: ResolvedFile | undefined;
  /** The destination chosen, when resolving succeeded. */
  readonly destination: Destination | undefined;
}

/**
 * Fetches one URL the way every command does: resolve it through its source
 * (Civitai's API, the Hub's probe; a plain URL as it is), then download it,
 * all on one retry budget. Never throws for a failed file: the result says
 * what happened with a stable code; only a usage error (a destination that
 * cannot be a file) is thrown, for the caller to report.
 */
export async function fetchOne(url: string, options: FetchOneOptions): Promise<FetchOneOutcome> {
  const started = performance.now();
  const budget = new RetryBudget(options.client.policy, (info) => options.onEvent?.({ type: 'retry', ...info }));
  let resolved: ResolvedFile;
  try {
    resolved = await resolveSource(url, { settings: options.sources, client: options.client, retryBudget: budget, ...(options.signal ? { signal: options.signal } : {}) });
  } catch (caught) {
    const error = options.signal?.aborted ? new DlrError('interrupted', 'interrupted') : toDlrError(caught);
    if (error.code === 'usage') throw error;
    const result: DownloadResult = {
      status: 'failed',
      url: redactUrl(url),
      path: undefined,
      attempts: 0,
      retries: budget.spent,
      bytesFetched: 0,
      durationMs: performance.now() - started,
      error: { code: error.code, message: error.message },
    };
    return { result, resolved: undefined, destination: undefined };
  }
  const destination = options.destination(resolved);
  await options.beforeDownload?.(destination);
  const result = await download(
    {
      url: resolved.url,
      dest: destination,
      headers: { ...resolved.headers, ...options.headers },
      overwrite: options.overwrite,
      ...(resolved.expect ? { expect: resolved.expect } : {}),
      ...(resolved.inspect ? { inspect: resolved.inspect } : {}),
    },
    {
      client: options.client,
      budget,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      ...(options.guard ? { guard: options.guard } : {}),
    },
  );
  return { result, resolved, destination };
}
