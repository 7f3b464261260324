import { readFile } from 'node:fs/promises';
import { download } from '../../src/engine/download.js';
import type { DownloadEvent, DownloadRequest, DownloadResult } from '../../src/engine/types.js';
import { createHttpClient, type HttpClient } from '../../src/http/client.js';
import type { DownloadPolicy } from '../../src/options.js';
import { sha256 } from '../../fixtures/server/fault-server.js';
import { toDlrError, type DlrError } from '../../src/errors.js';
import { resolveSource } from '../../src/sources/resolve-source.js';
import type { ResolvedFile, SourceSettings } from '../../src/sources/types.js';
import { fastPolicy } from './policy.js';
import { RetryBudget } from '../../src/policy/with-retries.js';

export interface RunOptions {
  readonly policy?: DownloadPolicy;
  readonly signal?: AbortSignal;
  /** A client to share between calls (else one per call, closed after it). */
  readonly client?: HttpClient;
  readonly onEvent?: (event: DownloadEvent) => void;
  readonly budget?: RetryBudget;
}

/** Runs the real engine with a fast policy, collecting its events. */
export async function runDownload(
  request: DownloadRequest,
  options: RunOptions = {},
): Promise<{ result: DownloadResult; events: DownloadEvent[] }> {
  const events: DownloadEvent[] = [];
  const client = options.client ?? createHttpClient({ policy: fastPolicy(options.policy) });
  try {
    const result = await download(request, {
      client,
      signal: options.signal,
      ...(options.budget ? { budget: options.budget } : {}),
      onEvent: (e) => {
        events.push(e);
        options.onEvent?.(e);
      },
    });
    return { result, events };
  } finally {
    if (!options.client) await client.close();
  }
}

export async function fileSha(path: string): Promise<string> {
  return sha256(await readFile(path));
}

/** Resolves a URL through its source, then downloads it: what the batch does per entry. */
export async function fetchViaSource(
  url: string,
  settings: SourceSettings,
  dir: string,
  options: RunOptions & { name?: string } = {},
): Promise<{ result: DownloadResult; events: DownloadEvent[]; resolved?: ResolvedFile; error?: DlrError }> {
  const client = options.client ?? createHttpClient({ policy: fastPolicy(options.policy) });
  // Lookups and download in one event list, retries included, as the CLI reports them.
  const events: DownloadEvent[] = [];
  const onEvent = (event: DownloadEvent) => {
    events.push(event);
    options.onEvent?.(event);
  };
  try {
    let resolved: ResolvedFile;
    // One retry budget for the lookups and the download, as the CLI does.
    const retryBudget = new RetryBudget(client.policy, (info) => onEvent({ type: 'retry', ...info }));
    try {
      resolved = await resolveSource(url, { settings, client, retryBudget });
    } catch (error) {
      return { result: undefined as never, events, error: toDlrError(error) };
    }
    const name = options.name ?? resolved.filename;
    const { result } = await runDownload(
      {
        url: resolved.url,
        dest: { dir, ...(name ? { name } : {}) },
        headers: resolved.headers,
        ...(resolved.expect ? { expect: resolved.expect } : {}),
        ...(resolved.inspect ? { inspect: resolved.inspect } : {}),
      },
      { ...options, client, budget: retryBudget, onEvent },
    );
    return { result, events, resolved };
  } finally {
    if (!options.client) await client.close();
  }
}
