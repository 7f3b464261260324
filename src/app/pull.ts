import { createHash } from 'node:crypto';
import { mkdir, realpath, rename, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { DlrError, UsageError, toDlrError } from '../errors.js';
import { download } from '../engine/download.js';
import type { DownloadEvent, DownloadResult, ExpectedFile, InspectedResponse } from '../engine/types.js';
import type { HttpClient } from '../http/client.js';
import { schedule } from '../batch/scheduler.js';
import { RetryBudget } from '../policy/with-retries.js';
import { inspectDownload } from '../sources/civitai.js';
import { civitaiFileUrl, civitaiHeaders, listCivitaiVersion } from '../pull/civitai-listing.js';
import { hashFile, matchingSize } from '../pull/file-check.js';
import { pathFilter } from '../pull/glob.js';
import { hubFileUrl, hubHeaders, inspectHubFile, listHubRepo } from '../pull/hub-listing.js';
import { findPull, readLockFile, recordPull, type LockedFile, type LockedPull } from '../pull/lock-file.js';
import type { RemoteFile } from '../pull/remote-file.js';
import { localPaths, showPath } from '../pull/repo-path.js';
import type { PullSpec } from '../pull/spec.js';
import type { SourceSettings } from '../sources/types.js';

export interface PullRequest {
  readonly spec: PullSpec;
  /** The folder the files go under (absolute). */
  readonly dir: string;
  /** The lock file (absolute). */
  readonly lockPath: string;
  readonly include: readonly string[];
  readonly exclude: readonly string[];
  /** The lock is the truth: install exactly it, never change it. */
  readonly frozen: boolean;
}

export interface PullContext {
  readonly sources: SourceSettings;
  /** Opened only when a request is needed: a frozen pull of present files makes none. */
  readonly openClient: () => HttpClient | Promise<HttpClient>;
  readonly jobs: number;
  readonly signal?: AbortSignal;
  /** Runs once, before the first byte is written into the folder (to take the folder's run lock). */
  readonly beforeWrite?: () => Promise<void>;
  /** A file about to be fetched (`index` of `total` fetched). */
  readonly onBegin?: (path: string, index: number, total: number) => void;
  readonly onEvent?: (event: DownloadEvent, index: number, total: number) => void;
  readonly onEnd?: (result: DownloadResult, index: number, total: number) => void;
}

export interface PulledFile {
  /** The path in the repository. */
  readonly path: string;
  /** Where it is on disk. */
  readonly target: string;
  readonly status: 'present' | 'fetched' | 'failed';
  readonly error?: { readonly code: DlrError['code']; readonly message: string };
}

export interface PullOutcome {
  readonly source: string;
  /** The Hub commit every file came from (or was checked against). */
  readonly commit: string | undefined;
  readonly files: readonly PulledFile[];
  /** Whether the lock was (re)written: never with --frozen, never after a failure. */
  readonly lockWritten: boolean;
  /** The client was opened (some request was needed). */
  readonly usedNetwork: boolean;
}

interface WantedFile extends RemoteFile {
  readonly target: string;
}

/**
 * `dlr pull`: resolve a repository (or a Civitai version) once, to a commit,
 * then put exactly its files under the folder, each fetched from that
 * commit and verified against the published size and hash before it is
 * renamed into place; record it all in the lock. With `frozen`, the lock is
 * the only source: no listing is asked for, present files that match cost
 * no request, missing or wrong ones are fetched from the locked commit and
 * must match the lock, and the lock is left as it was.
 *
 * Throws (a typed DlrError) for what stops the whole pull: bad usage, a
 * listing that cannot be had or holds a hostile path. A file that fails is
 * in the outcome; the lock is then not written.
 */
export async function pull(request: PullRequest, ctx: PullContext): Promise<PullOutcome> {
  const lock = await readLockFile(request.lockPath);
  const dirKey = lockDirKey(request.lockPath, request.dir);
  let client: HttpClient | undefined;
  // One client for the pull, made on the first request (a --frozen pull with everything there makes none).
  let opening: Promise<HttpClient> | undefined;
  const open = () => (opening ??= Promise.resolve(ctx.openClient()).then((made) => (client = made)));
  try {
    return await pullWith(request, ctx, lock, dirKey, open, () => client !== undefined);
  } finally {
    await (opening ?? Promise.resolve(client)).then((c) => c?.close(), () => undefined);
  }
}

async function pullWith(
  request: PullRequest,
  ctx: PullContext,
  lock: Awaited<ReturnType<typeof readLockFile>>,
  dirKey: string,
  open: () => Promise<HttpClient>,
  usedNetwork: () => boolean,
): Promise<PullOutcome> {
  const { spec } = request;
  const hub = request.spec.kind === 'hf' ? { endpoint: ctx.sources.hfEndpoint.replace(/\/+$/, ''), token: ctx.sources.hfToken } : undefined;
  const civitai = { baseUrl: ctx.sources.civitaiBaseUrl, apiKey: ctx.sources.civitaiApiKey };

  let commit: string | undefined;
  let files: RemoteFile[];
  if (request.frozen) {
    const entry = frozenEntry(request, lock, dirKey);
    commit = entry.commit;
    files = entry.files.map((f) => ({ ...f }));
  } else {
    const budget = new RetryBudget((await open()).policy);
    const listing =
      spec.kind === 'hf'
        ? await listHubRepo(spec.repo, spec.revision, hub!, await open(), budget, ctx.signal)
        : await listCivitaiVersion(spec.versionId, civitai, await open(), budget, ctx.signal);
    if (listing.gated && hub?.token === undefined) {
      throw new DlrError('auth-required', `Hugging Face: ${spec.source.slice(3)} is gated; accept its terms on the Hub, then set HF_TOKEN or run 'hf auth login'`);
    }
    // Every listed path is checked, the ones filtered out too: a listing with a hostile path is not trusted at all.
    localPaths(listing.files.map((f) => f.path));
    const filter = pathFilter(request.include, request.exclude);
    files = listing.files.filter((f) => filter.test(f.path));
    if (files.length === 0) throw new DlrError('not-found', `no file of ${spec.source} matches --include/--exclude (${listing.files.length} listed)`);
    commit = listing.commit;
  }
  const locals = localPaths(files.map((f) => f.path));
  const wanted: WantedFile[] = files.map((f) => ({ ...f, target: join(request.dir, ...locals.get(f.path)!.split('/')) }));

  // Present and matching: no request. The sizes found are what the lock records (Civitai's are rounded).
  const sizes = new Map<string, number>();
  const missing: WantedFile[] = [];
  for (const file of wanted) {
    if (ctx.signal?.aborted) throw new DlrError('interrupted', 'interrupted');
    const size = await matchingSize(file.target, file, ctx.signal).catch((error: unknown) => {
      throw toDlrError(error, { path: file.target });
    });
    if (size === undefined) missing.push(file);
    else sizes.set(file.path, size);
  }

  const failures = new Map<string, DlrError>();
  if (missing.length > 0) {
    await ctx.beforeWrite?.();
    await schedule({
      items: missing,
      jobs: ctx.jobs,
      isHeavy: () => false,
      heavyJobs: 1,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      run: async (file, index) => {
        ctx.onBegin?.(file.path, index + 1, missing.length);
        const result = await fetchFile(file, request, commit, await open(), { hub, civitai }, ctx, index + 1, missing.length);
        ctx.onEnd?.(result, index + 1, missing.length);
        if (result.status === 'done') sizes.set(file.path, result.size);
        else if (result.status === 'failed') failures.set(file.path, new DlrError(result.error.code, result.error.message));
      },
    });
  }
  const interrupted = ctx.signal?.aborted === true;
  const out: PulledFile[] = wanted.map((f) => {
    const failure = failures.get(f.path);
    if (failure) return { path: f.path, target: f.target, status: 'failed', error: { code: failure.code, message: failure.message } };
    if (!sizes.has(f.path)) return { path: f.path, target: f.target, status: 'failed', error: { code: 'interrupted', message: 'interrupted' } };
    return { path: f.path, target: f.target, status: missing.includes(f) ? 'fetched' : 'present' };
  });
  let lockWritten = false;
  if (!request.frozen && !interrupted && out.every((f) => f.status !== 'failed')) {
    const entry: LockedPull = {
      source: spec.source,
      ...(spec.kind === 'hf' ? { revision: spec.revision, commit } : {}),
      dir: dirKey,
      include: [...request.include],
      exclude: [...request.exclude],
      files: wanted.map((f): LockedFile => ({
        path: f.path,
        size: sizes.get(f.path)!,
        ...(f.sha256 !== undefined ? { sha256: f.sha256 } : {}),
        ...(f.gitBlobId !== undefined ? { gitBlobId: f.gitBlobId } : {}),
        ...(f.id !== undefined ? { id: f.id } : {}),
      })),
    };
    await recordPull(request.lockPath, entry);
    lockWritten = true;
  }
  return { source: spec.source, commit, files: out, lockWritten, usedNetwork: usedNetwork() };
}

/** The lock's name for the folder: relative to the lock file's own, `/`-separated, so the lock works from any checkout. */
export function lockDirKey(lockPath: string, dir: string): string {
  const rel = relative(dirname(lockPath), dir);
  if (rel === '') return '.';
  return isAbsolute(rel) ? rel : rel.split(sep).join('/');
}

function frozenEntry(request: PullRequest, lock: Awaited<ReturnType<typeof readLockFile>>, dirKey: string): LockedPull {
  const { spec } = request;
  if (lock === undefined) throw new UsageError(`--frozen: there is no lock at ${request.lockPath}; run dlr pull without --frozen first, and commit the lock`);
  const entry = findPull(lock, spec.source, dirKey);
  const again = 'run dlr pull without --frozen to update the lock';
  if (entry === undefined) throw new UsageError(`--frozen: ${request.lockPath} has no pull of ${spec.source} into ${dirKey}; ${again}`);
  if (spec.kind === 'hf') {
    if (entry.revision !== spec.revision) throw new UsageError(`--frozen: the lock pins ${spec.source} at revision '${entry.revision ?? '?'}', not '${spec.revision}'; ${again}`);
    if (entry.commit === undefined) throw new DlrError('config', `${request.lockPath}: the pull of ${spec.source} names no commit; ${again}`);
  }
  // As sets: the lock keeps them sorted, the command line in any order.
  const same = (a: readonly string[], b: readonly string[]) => {
    const x = new Set(a);
    const y = new Set(b);
    return x.size === y.size && [...x].every((p) => y.has(p));
  };
  if ((request.include.length > 0 || request.exclude.length > 0) && (!same(request.include, entry.include) || !same(request.exclude, entry.exclude))) {
    throw new UsageError(`--frozen: the lock was made with other --include/--exclude patterns; ${again}`);
  }
  if (spec.kind === 'civitai' && entry.files.some((f) => f.id === undefined || f.sha256 === undefined)) {
    throw new DlrError('config', `${request.lockPath}: a Civitai file without "id" or "sha256"; ${again}`);
  }
  return entry;
}

interface Access {
  readonly hub: { readonly endpoint: string; readonly token: string | undefined } | undefined;
  readonly civitai: { readonly baseUrl: string; readonly apiKey: string | undefined };
}

/**
 * One file from the resolved commit (Civitai: the version, by file id). A
 * file with a SHA-256 is verified by the engine before its rename; a small
 * Hub file, known by its git blob id only, is fetched beside its place
 * under a dlr name and renamed in only once its blob id matches.
 */
async function fetchFile(
  file: WantedFile,
  request: PullRequest,
  commit: string | undefined,
  client: HttpClient,
  access: Access,
  ctx: PullContext,
  index: number,
  total: number,
): Promise<DownloadResult> {
  const { spec } = request;
  const started = performance.now();
  const failed = (error: DlrError): DownloadResult => ({
    status: 'failed',
    url: file.path,
    path: file.target,
    attempts: 0,
    retries: 0,
    bytesFetched: 0,
    durationMs: performance.now() - started,
    error: { code: error.code, message: error.message },
  });
  try {
    await ensureInside(request.dir, dirname(file.target));
  } catch (error) {
    return failed(toDlrError(error, { path: file.target }));
  }
  let url: URL;
  let headers: Record<string, string>;
  let inspect: (res: InspectedResponse) => DlrError | undefined;
  if (spec.kind === 'hf') {
    url = hubFileUrl(access.hub!.endpoint, spec.repo, commit!, file.path);
    headers = hubHeaders(access.hub!);
    inspect = inspectHubFile(access.hub!.endpoint);
  } else {
    url = civitaiFileUrl(access.civitai.baseUrl, spec.versionId, file.id!);
    headers = civitaiHeaders(access.civitai);
    const origin = new URL(access.civitai.baseUrl).origin;
    inspect = (res) => inspectDownload(res, origin);
  }
  // A frozen pull knows the exact size (the lock has what was verified); a fresh Civitai listing only its rounding.
  const tolerance = request.frozen ? 0 : (file.sizeTolerance ?? 0);
  const expect: ExpectedFile = { size: file.size, ...(tolerance > 0 ? { sizeTolerance: tolerance } : {}), ...(file.sha256 ? { sha256: file.sha256 } : {}) };
  const onEvent = ctx.onEvent ? (event: DownloadEvent) => ctx.onEvent!(event, index, total) : undefined;
  const budget = new RetryBudget(client.policy, onEvent ? (info) => onEvent({ type: 'retry', ...info }) : undefined);
  const common = { url, headers, overwrite: true, expect, inspect };
  const engine = { client, budget, ...(ctx.signal ? { signal: ctx.signal } : {}), ...(onEvent ? { onEvent } : {}) };
  if (file.sha256 !== undefined) {
    const result = await download({ ...common, dest: { file: file.target } }, engine);
    // The engine's own messages name the file already (its hash mismatch); the others get its repository path.
    const named = (message: string) => (message.includes(file.target) ? message : `${showPath(file.path)}: ${message}`);
    return result.status === 'failed' ? { ...result, error: { ...result.error, message: named(result.error.message) } } : result;
  }
  // dlr's own names (`.dlr*`) are never a safe name (safeFileName defuses them), so this cannot meet a repository file.
  const staging = join(dirname(file.target), `.dlr-pull-${createHash('sha1').update(file.path).digest('hex').slice(0, 16)}.unverified`);
  const result = await download({ ...common, dest: { file: staging } }, engine);
  if (result.status !== 'done') {
    return result.status === 'failed' ? { ...result, path: file.target, error: { ...result.error, message: `${showPath(file.path)}: ${result.error.message}` } } : result;
  }
  const blobId = await hashFile(staging, 'git-blob', result.size, ctx.signal).catch((error: unknown) => toDlrError(error, { path: staging }));
  if (blobId instanceof DlrError || blobId !== file.gitBlobId) {
    await unlink(staging).catch(() => undefined);
    const why =
      blobId instanceof DlrError
        ? blobId.message
        : `git blob id ${blobId.slice(0, 12)}… does not match the ${request.frozen ? 'locked' : 'listed'} ${file.gitBlobId!.slice(0, 12)}…`;
    return { ...result, status: 'failed', path: file.target, error: { code: blobId instanceof DlrError ? blobId.code : 'hash-mismatch', message: `${showPath(file.path)}: ${why}` } };
  }
  try {
    await rename(staging, file.target);
  } catch (error) {
    await unlink(staging).catch(() => undefined);
    return failed(toDlrError(error, { path: file.target }));
  }
  return { ...result, path: file.target, verified: true };
}

/**
 * Creates `folder` and checks it still lies under `dir` once links are
 * followed: a symlinked subfolder (planted, or left by another tool) must
 * not carry a write outside the pull's folder.
 */
async function ensureInside(dir: string, folder: string): Promise<void> {
  await mkdir(folder, { recursive: true });
  const [root, real] = await Promise.all([realpath(dir), realpath(folder)]);
  if (real !== root && !real.startsWith(root.endsWith(sep) ? root : root + sep)) {
    throw new DlrError('disk', `${folder} leads outside ${dir} (a symbolic link); refusing to write there`);
  }
}
