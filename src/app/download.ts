import { basename } from 'node:path';
import { acquireRunLock, releaseOnExit, type RunLock } from '../batch/run-lock.js';
import type { DownloadEvent, DownloadResult } from '../engine/types.js';
import { stripUrlCredentials } from '../http/credentials.js';
import { appendHistory } from '../history/append-history.js';
import { hashCachePathFor, updateHashCache } from '../history/hash-cache.js';
import type { OriginEvent } from '../limiter/memory-limiter.js';
import { fetchOne } from './fetch-one.js';
import type { RunSettings } from './settings.js';

export interface DownloadOneRequest {
  readonly url: string;
  /** `--type`, already checked against the known types (dlr's name for it). */
  readonly type?: string;
  /** `--type` as the user spelled it (`LoCon`), written to the history row as such. */
  readonly typeAsGiven?: string;
  /** `-o FILE`. */
  readonly output?: string;
  /** `--dir DIR`. */
  readonly dir?: string;
  /** `--filename NAME`. */
  readonly filename?: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly force: boolean;
  readonly signal: AbortSignal;
}

export interface DownloadOneOutcome {
  readonly result: DownloadResult;
  /** The history the file was added to, when it was. */
  readonly addedTo: string | undefined;
}

/**
 * `dlr download URL`: without a model type a curl-like fetch into --dir
 * (default: here) or -o. With a type — given, or named by the site, as a
 * Civitai URL always is — the file goes to that type's folder and, once
 * complete, is appended to the history (and its published hash to the hash
 * cache), so `redownload all` keeps it. The history has no path column:
 * `redownload` finds a row's file in its type's folder, so a file put
 * elsewhere (-o, --dir) stays a plain fetch, out of the history.
 */
export async function downloadOne(
  settings: RunSettings,
  request: DownloadOneRequest,
  onEvent: (event: DownloadEvent | OriginEvent) => void,
): Promise<DownloadOneOutcome> {
  const client = settings.openClient({ onOriginEvent: onEvent });
  let lock: RunLock | undefined;
  let type: string | undefined;
  let intoTypeFolder = false;
  try {
    const { result, resolved } = await fetchOne(request.url, {
      client,
      sources: settings.sources,
      overwrite: request.force,
      headers: request.headers,
      signal: request.signal,
      onEvent,
      destination: (file) => {
        type = request.type ?? file.type;
        const name = request.filename ?? file.filename;
        intoTypeFolder = type !== undefined && request.output === undefined && request.dir === undefined;
        return request.output !== undefined
          ? { file: request.output }
          : { dir: request.dir ?? (type !== undefined ? settings.dirFor(type) : '.'), ...(name ? { name } : {}) };
      },
      // The same folders a nightly redownload writes: the same lock, taken before the transfer.
      beforeDownload: async (dest) => {
        if (!intoTypeFolder) return;
        lock = await acquireRunLock(['dir' in dest ? dest.dir : '.']);
        releaseOnExit(lock);
      },
    });
    if (result.status !== 'done' || !intoTypeFolder || result.path === undefined || resolved === undefined) return { result, addedTo: undefined };
    await appendHistory(settings.historyPath, {
      timestamp: new Date(),
      modelType: request.typeAsGiven ?? type!,
      url: stripUrlCredentials(request.url),
      filename: basename(result.path),
    });
    await updateHashCache(hashCachePathFor(settings.historyPath), [{ url: request.url, file: resolved, path: result.path }]);
    return { result, addedTo: settings.historyPath };
  } finally {
    await client.close();
    await lock?.release();
  }
}
