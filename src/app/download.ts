import { basename } from 'node:path';
import { acquireRunLock, releaseOnExit, type RunLock } from '../batch/run-lock.js';
import type { DownloadEvent, DownloadResult } from '../engine/types.js';
import { schedule } from '../batch/scheduler.js';
import { toDlrError, type DlrError } from '../errors.js';
import type { HttpClient } from '../http/client.js';
import { redactUrl, stripUrlCredentials } from '../http/credentials.js';
import { appendHistory } from '../history/append-history.js';
import { planDownloads } from '../history/plan.js';
import { readHistory } from '../history/read-history.js';
import { pathExists } from '../util/fs.js';
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
  try {
    return await downloadWith(client, settings, request, onEvent);
  } finally {
    await client.close();
  }
}

/**
 * `dlr download URL URL…` and `-i FILE`: each URL as `downloadOne` fetches
 * it, `settings.jobs` at a time with the batch's scheduler, all through one
 * client (one origin limiter, one keep-alive pool). Outcomes come back in
 * the order given; `onEvent` is told which URL (its index) an event is about.
 */
export async function downloadMany(
  settings: RunSettings,
  requests: readonly DownloadOneRequest[],
  onEvent: (index: number, event: DownloadEvent) => void,
  onOrigin: (event: OriginEvent) => void,
  signal: AbortSignal,
  onStart?: (index: number) => void,
  onEnd?: (index: number, outcome: DownloadOneOutcome) => void,
): Promise<Array<DownloadOneOutcome | undefined>> {
  const client = settings.openClient({ onOriginEvent: onOrigin });
  const locks = new FolderLocks();
  const outcomes = new Array<DownloadOneOutcome | undefined>(requests.length);
  try {
    await schedule({
      items: requests,
      jobs: settings.jobs,
      // Plain downloads have no model type to weigh; only the cap on files in flight applies.
      isHeavy: () => false,
      heavyJobs: 1,
      signal,
      run: async (request, i) => {
        onStart?.(i);
        let outcome: DownloadOneOutcome;
        try {
          outcome = await downloadWith(client, settings, request, (event) => ('origin' in event ? onOrigin(event) : onEvent(i, event)), locks);
        } catch (caught) {
          const error = toDlrError(caught);
          outcome = { result: failedBeforeStart(request.url, error), addedTo: undefined };
        }
        outcomes[i] = outcome;
        onEnd?.(i, outcome);
      },
    });
    return outcomes;
  } finally {
    await client.close();
    await locks.releaseAll();
  }
}

function failedBeforeStart(url: string, error: DlrError): DownloadResult {
  return { status: 'failed', url: redactUrl(url), path: undefined, attempts: 0, retries: 0, bytesFetched: 0, durationMs: 0, error: { code: error.code, message: error.message } };
}

/**
 * The run locks of type folders, taken once per folder for a whole run of
 * several downloads (two of them into one folder must not find each other's
 * lock) and released together at its end.
 */
class FolderLocks {
  readonly #held = new Map<string, Promise<RunLock>>();

  take(dir: string): Promise<RunLock> {
    let lock = this.#held.get(dir);
    if (lock === undefined) {
      lock = acquireRunLock([dir]).then((l) => (releaseOnExit(l), l));
      // A folder that could not be locked is tried again by the next file bound there.
      lock.catch(() => this.#held.delete(dir));
      this.#held.set(dir, lock);
    }
    return lock;
  }

  async releaseAll(): Promise<void> {
    const locks = [...this.#held.values()];
    this.#held.clear();
    for (const lock of locks) await (await lock.catch(() => undefined))?.release();
  }
}

async function downloadWith(
  client: HttpClient,
  settings: RunSettings,
  request: DownloadOneRequest,
  onEvent: (event: DownloadEvent | OriginEvent) => void,
  shared?: FolderLocks,
): Promise<DownloadOneOutcome> {
  const locks = shared ?? new FolderLocks();
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
        await locks.take('dir' in dest ? dest.dir : '.');
      },
    });
    if (result.status !== 'done' || !intoTypeFolder || result.path === undefined || resolved === undefined) return { result, addedTo: undefined };
    // A file the history already keeps (under another form of its URL, or the
    // same): another row would name the same file, and every nightly run after
    // would report it as invalid-row (two URLs, one file) and exit 1.
    if (await historyKeeps(settings, result.path)) return { result, addedTo: undefined };
    await appendHistory(settings.historyPath, {
      timestamp: new Date(),
      modelType: request.typeAsGiven ?? type!,
      url: stripUrlCredentials(request.url),
      filename: basename(result.path),
    });
    await updateHashCache(hashCachePathFor(settings.historyPath), [{ url: request.url, file: resolved, path: result.path }]);
    return { result, addedTo: settings.historyPath };
  } finally {
    if (shared === undefined) await locks.releaseAll();
  }
}

/** Whether a row of the history already plans a download to `path`. A missing history keeps nothing. */
async function historyKeeps(settings: RunSettings, path: string): Promise<boolean> {
  if (!(await pathExists(settings.historyPath))) return false;
  const history = await readHistory(settings.historyPath);
  const planned = await planDownloads(history.rows, settings.dirFor);
  return planned.some((entry) => entry.path === path);
}
