import { DlrError, UsageError } from '../errors.js';
import type { InspectedResponse } from '../engine/types.js';
import { apiError, fetchJson } from '../http/fetch-json.js';
import { header } from '../http/status-error.js';
import { normalizeModelType } from '../domain/model-type.js';
import { RetryBudget, withRetries } from '../policy/with-retries.js';
import type { ResolvedFile, SourceContext } from './types.js';

/** Hosts that are Civitai whatever the configured origin (WIRE.md: civitai.com and its SFW twin). */
const CIVITAI_HOSTS = new Set(['civitai.com', 'www.civitai.com', 'civitai.green', 'www.civitai.green']);
/**
 * The download route's file selectors (WIRE.md 1.3). `fileId` names one file
 * outright and is kept apart; `token` is a credential and handled apart too.
 */
const FILE_QUERY_KEYS = ['type', 'format', 'size', 'fp'] as const;
const KEY_HINT = 'set api_key in the config, or CIVITAI_TOKEN';
/** Civitai publishes sizes as float KiB; allow the rounding. */
const SIZE_TOLERANCE = 1024;

interface CivitaiRef {
  readonly modelId?: string;
  readonly versionId?: string;
  readonly query: Partial<Record<(typeof FILE_QUERY_KEYS)[number], string>>;
  /** `?fileId=` on a download URL: the one file of the version the user meant. */
  readonly fileId?: string;
  /** A key pasted into the URL as `?token=`; it becomes a header, never part of a URL we send. */
  readonly token?: string;
}

interface CivitaiFile {
  readonly id?: unknown;
  readonly name?: unknown;
  readonly sizeKB?: unknown;
  readonly type?: unknown;
  readonly primary?: unknown;
  readonly metadata?: { readonly format?: unknown; readonly size?: unknown; readonly fp?: unknown } | null;
  readonly hashes?: { readonly SHA256?: unknown } | null;
}

interface CivitaiVersion {
  readonly id?: unknown;
  readonly files?: readonly CivitaiFile[];
  readonly model?: { readonly type?: unknown };
}

export function isCivitaiUrl(url: URL, baseUrl: string): boolean {
  return CIVITAI_HOSTS.has(url.hostname.toLowerCase()) || url.origin === new URL(baseUrl).origin;
}

/** The URL forms users paste: a model page (optionally `?modelVersionId=`) or a download URL. */
export function parseCivitaiUrl(url: URL): CivitaiRef {
  const token = url.searchParams.get('token') ?? undefined;
  const query: Record<string, string> = {};
  for (const key of FILE_QUERY_KEYS) {
    const value = url.searchParams.get(key);
    if (value) query[key] = value;
  }
  const download = /^\/api\/download\/models\/(\d+)\/?$/.exec(url.pathname);
  if (download) {
    const fileId = url.searchParams.get('fileId') || undefined;
    return { versionId: download[1], query, ...(fileId ? { fileId } : {}), ...(token ? { token } : {}) };
  }
  const page = /^\/models\/(\d+)(?:\/[^/]*)?\/?$/.exec(url.pathname);
  if (page) {
    const versionId = url.searchParams.get('modelVersionId') ?? undefined;
    if (versionId !== undefined && !/^\d+$/.test(versionId)) throw new UsageError(`modelVersionId must be a number in ${url.pathname}`);
    return { modelId: page[1], ...(versionId ? { versionId } : {}), query, ...(token ? { token } : {}) };
  }
  throw new DlrError('invalid-row', `not a Civitai model or download URL: ${url.pathname} (expected /models/{id} or /api/download/models/{versionId})`);
}

/**
 * Resolves a Civitai URL through the public REST API: the version named,
 * else the model's newest; the file `fileId` names, else the primary one
 * among those the type/format/size/fp selectors allow. The download always
 * starts again from Civitai's own download route, so every retry gets a
 * fresh signed CDN link.
 */
export async function resolveCivitai(url: URL, ctx: SourceContext): Promise<ResolvedFile> {
  const ref = parseCivitaiUrl(url);
  const base = ctx.settings.civitaiBaseUrl.replace(/\/+$/, '');
  // A key pasted into this very URL is the more specific choice; and since
  // Civitai reads only the header when there is one (WIRE.md 1.1), sending
  // the configured key instead would make a stale config key win silently.
  const key = ref.token ?? ctx.settings.civitaiApiKey;
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  const api = (path: string) => getApi(new URL(`${base}${path}`), headers, ctx);

  let version: CivitaiVersion;
  let modelType: unknown;
  if (ref.versionId !== undefined) {
    version = (await api(`/api/v1/model-versions/${ref.versionId}`)) as CivitaiVersion;
    modelType = version.model?.type;
  } else {
    const model = (await api(`/api/v1/models/${ref.modelId}`)) as { type?: unknown; modelVersions?: CivitaiVersion[] };
    // The API lists versions newest first.
    const newest = model.modelVersions?.[0];
    if (!newest) throw new DlrError('not-found', `Civitai model ${ref.modelId} has no published version`);
    version = newest;
    modelType = model.type;
  }
  const versionId = String(version.id ?? ref.versionId);
  const file = chooseFile(version.files ?? [], ref, versionId);
  const download = downloadUrl(base, versionId, ref, file);

  const sha = typeof file.hashes?.SHA256 === 'string' && /^[0-9a-f]{64}$/i.test(file.hashes.SHA256) ? file.hashes.SHA256 : undefined;
  const size = typeof file.sizeKB === 'number' && file.sizeKB > 0 ? Math.round(file.sizeKB * 1024) : undefined;
  return {
    source: 'civitai',
    url: download,
    headers,
    ...(typeof file.name === 'string' ? { filename: file.name } : {}),
    ...(typeof modelType === 'string' ? { type: normalizeModelType(modelType) } : {}),
    expect: { ...(sha ? { sha256: sha } : {}), ...(size ? { size, sizeTolerance: SIZE_TOLERANCE } : {}) },
    inspect: (res) => inspectDownload(res, new URL(base).origin),
    version: versionId,
  };
}

/**
 * A model page URL that names no version (`/models/{id}` without
 * `?modelVersionId=`): its model id. Such a row follows the model, so the
 * file on disk may rightly be any of its versions, not only today's newest.
 * Undefined for every other URL (a download URL names its version).
 */
export function unpinnedCivitaiModel(url: URL, baseUrl: string): string | undefined {
  if (!isCivitaiUrl(url, baseUrl)) return undefined;
  let ref: CivitaiRef;
  try {
    ref = parseCivitaiUrl(url);
  } catch {
    return undefined;
  }
  return ref.modelId !== undefined && ref.versionId === undefined ? ref.modelId : undefined;
}

/**
 * Which published version of which model has a file with this SHA-256
 * (WIRE.md 1.5: `GET /api/v1/model-versions/by-hash/{hash}`, the same answer
 * as `/model-versions/{id}`; 404 when no published file has it). `url` is
 * the history row's, for its `?token=`. Undefined when Civitai knows no such file.
 */
export async function civitaiVersionByHash(
  url: URL,
  sha256: string,
  ctx: SourceContext,
): Promise<{ readonly modelId: string; readonly versionId: string } | undefined> {
  if (!/^[0-9a-f]{64}$/i.test(sha256)) throw new DlrError('internal', 'by-hash needs a hex SHA-256');
  const token = url.searchParams.get('token') ?? undefined;
  const key = token ?? ctx.settings.civitaiApiKey;
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  const base = ctx.settings.civitaiBaseUrl.replace(/\/+$/, '');
  let version: { modelId?: unknown; id?: unknown; files?: readonly CivitaiFile[] };
  try {
    version = (await getApi(new URL(`${base}/api/v1/model-versions/by-hash/${sha256.toUpperCase()}`), headers, ctx)) as typeof version;
  } catch (error) {
    if (error instanceof DlrError && error.code === 'not-found') return undefined;
    throw error;
  }
  // The answer names the version; its files must really hold this hash (a cache or a proxy could answer otherwise).
  const holds = (version.files ?? []).some((f) => typeof f.hashes?.SHA256 === 'string' && f.hashes.SHA256.toLowerCase() === sha256.toLowerCase());
  if (!holds || (typeof version.modelId !== 'number' && typeof version.modelId !== 'string')) return undefined;
  return { modelId: String(version.modelId), versionId: String(version.id) };
}

async function getApi(url: URL, headers: Record<string, string>, ctx: SourceContext): Promise<unknown> {
  return withRetries(
    async () => {
      const answer = await fetchJson(ctx.client, url, headers, ctx.signal);
      if (answer.status === 401) throw new DlrError('auth-required', `Civitai API: ${apiMessage(answer.json) ?? 'Unauthorized'} (${KEY_HINT})`, { status: 401 });
      if (answer.status === 404) throw new DlrError('not-found', `Civitai: ${apiMessage(answer.json) ?? 'not found'}`, { status: 404 });
      if (answer.status < 200 || answer.status >= 300) throw apiError(answer);
      if (answer.json === undefined || typeof answer.json !== 'object') {
        throw new DlrError('invalid-response', `Civitai API ${url.pathname} did not answer with JSON`);
      }
      return answer.json;
    },
    ctx.retryBudget ?? new RetryBudget(ctx.client.policy),
    ctx.signal,
  );
}

/**
 * The file the download route will serve, so its published hash is the one
 * checked (WIRE.md 1.3): `fileId` names it; otherwise the route picks a file
 * (the primary one) and then checks the selectors against it (step 10), so
 * among several files the selectors allow, the primary one wins.
 */
function chooseFile(files: readonly CivitaiFile[], ref: CivitaiRef, versionId: string): CivitaiFile {
  if (files.length === 0) throw new DlrError('not-found', `Civitai version ${versionId} has no files`);
  const wanted = Object.entries(ref.query).filter(([, v]) => v);
  const fits = (f: CivitaiFile) => wanted.every(([k, v]) => sameSelector(selectorsOf(f)[k as keyof CivitaiRef['query']], v));
  const asked = [...(ref.fileId !== undefined ? [`fileId=${ref.fileId}`] : []), ...wanted.map(([k, v]) => `${k}=${v}`)].join(', ');
  if (ref.fileId !== undefined) {
    const named = files.find((f) => String(f.id) === ref.fileId);
    if (!named || !fits(named)) throw new DlrError('not-found', `Civitai version ${versionId} has no file with ${asked}`);
    return named;
  }
  const candidates = files.filter(fits);
  const file = candidates.find((f) => f.primary === true) ?? candidates.find((f) => f.type === 'Model') ?? candidates[0];
  if (!file) throw new DlrError('not-found', `Civitai version ${versionId} has no file with ${asked}`);
  return file;
}

/**
 * The download route asked for exactly the file chosen: the user's own
 * `fileId` and selectors, as given; with none, the bare route serves the
 * primary file, and any other file is named by its id.
 */
function downloadUrl(base: string, versionId: string, ref: CivitaiRef, file: CivitaiFile): URL {
  const url = new URL(`${base}/api/download/models/${versionId}`);
  if (ref.fileId !== undefined) url.searchParams.set('fileId', ref.fileId);
  for (const [k, v] of Object.entries(ref.query)) if (v) url.searchParams.set(k, v);
  const named = ref.fileId !== undefined || Object.keys(ref.query).length > 0;
  if (!named && file.primary !== true) {
    if (typeof file.id === 'number' || typeof file.id === 'string') url.searchParams.set('fileId', String(file.id));
    else for (const [k, v] of Object.entries(selectorsOf(file))) if (v) url.searchParams.set(k, v);
  }
  return url;
}

function selectorsOf(file: CivitaiFile): CivitaiRef['query'] {
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const out: Record<string, string> = {};
  const pairs: Array<[string, string | undefined]> = [
    ['type', str(file.type)],
    ['format', str(file.metadata?.format)],
    ['size', str(file.metadata?.size)],
    ['fp', str(file.metadata?.fp)],
  ];
  for (const [k, v] of pairs) if (v !== undefined) out[k] = v;
  return out;
}

function sameSelector(a: string | undefined, b: string): boolean {
  return a !== undefined && a.toLowerCase() === b.toLowerCase();
}

function apiMessage(json: unknown): string | undefined {
  if (json === null || typeof json !== 'object') return undefined;
  const { error, message } = json as { error?: unknown; message?: unknown };
  const parts = [error, message].filter((p): p is string => typeof p === 'string' && p !== '');
  return parts.length > 0 ? parts.join(': ') : undefined;
}

/**
 * What Civitai's download route and its CDN really answer (WIRE.md 1.3, 1.4),
 * told apart so the user knows what to do. Nothing here sees the key.
 */
export function inspectDownload(res: InspectedResponse, civitaiOrigin: string): DlrError | undefined {
  const fromCivitai = res.url.origin === civitaiOrigin;
  if (fromCivitai && res.url.pathname.startsWith('/login')) {
    return new DlrError('auth-required', `Civitai asks to log in to download this (${KEY_HINT})`);
  }
  const json = parseJson(res.body);
  const message = apiMessage(json);
  if (res.status === 401 && /disabled downloads/i.test(message ?? '')) {
    // Step 6 of the download route (WIRE.md 1.3) answers 401 too, but no key can
    // change the creator's choice: say so instead of asking for one.
    return new DlrError('forbidden', `Civitai: ${message} (no key can change this)`, { status: 401 });
  }
  if (res.status === 401) {
    return new DlrError('auth-required', `Civitai: ${message ?? 'Unauthorized'} (${KEY_HINT})`, { status: 401 });
  }
  if (res.status === 403 && !fromCivitai) {
    // A signed CDN link that expired (S3: "Request has expired") or was refused:
    // the next attempt asks Civitai for a new one.
    return new DlrError('forbidden', 'the CDN refused the signed download link (expired?); asking Civitai for a new one', {
      status: 403,
      retryable: true,
    });
  }
  if (res.status === 403) {
    const deadline = (json as { deadline?: unknown } | undefined)?.deadline;
    if ((json as { error?: unknown } | undefined)?.error === 'Early Access') {
      const until = typeof deadline === 'string' ? ` until ${deadline}` : '';
      return new DlrError('forbidden', `Civitai: this version is in Early Access${until}; it cannot be downloaded without buying access`, { status: 403 });
    }
    return new DlrError('forbidden', `Civitai: ${message ?? 'Forbidden'} (no permission for this file)`, { status: 403 });
  }
  if (res.status === 404 || res.status === 410) {
    return new DlrError('not-found', `Civitai: ${message ?? 'File not found'} (the model or version is gone)`, { status: res.status });
  }
  // Only Civitai's own origin answering a page means "no file here" (an error or
  // a browser page, WIRE.md 1.3); the CDN serves what was uploaded, and
  // Workflow and Config files are JSON. A page from the CDN still fails the
  // size check against the API's sizeKB, and always the hash.
  if (fromCivitai && res.status >= 200 && res.status < 300) {
    const type = (header(res.headers, 'content-type') ?? '').toLowerCase();
    if (type.startsWith('text/html') || type.includes('json')) {
      return new DlrError('invalid-response', `Civitai sent ${type.startsWith('text/html') ? 'an HTML page' : 'JSON'} instead of the model file`);
    }
  }
  return undefined;
}

function parseJson(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
