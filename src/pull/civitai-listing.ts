import { DlrError } from '../errors.js';
import { apiError, fetchJson } from '../http/fetch-json.js';
import type { HttpClient } from '../http/client.js';
import { withRetries, type RetryBudget } from '../policy/with-retries.js';
import { MAX_LISTED_FILES, type RemoteFile, type RemoteListing } from './remote-file.js';
import { showPath } from './repo-path.js';

export interface CivitaiAccess {
  readonly baseUrl: string;
  readonly apiKey: string | undefined;
}

/** Civitai publishes sizes as float KiB (WIRE.md 1.2): allow the rounding. */
const SIZE_TOLERANCE = 1024;

export function civitaiHeaders(access: CivitaiAccess): Record<string, string> {
  return access.apiKey ? { authorization: `Bearer ${access.apiKey}` } : {};
}

/**
 * A model version's files from `/api/v1/model-versions/{id}` (WIRE.md 1.2):
 * each `files[]` entry's `id`, `name`, `sizeKB` and `hashes.SHA256`. A file
 * with no SHA-256 cannot be locked, so it is refused rather than pulled
 * unchecked.
 */
export async function listCivitaiVersion(
  versionId: string,
  access: CivitaiAccess,
  client: HttpClient,
  budget: RetryBudget,
  signal?: AbortSignal,
): Promise<RemoteListing> {
  const base = access.baseUrl.replace(/\/+$/, '');
  const url = new URL(`${base}/api/v1/model-versions/${versionId}`);
  const json = await withRetries(
    async () => {
      const answer = await fetchJson(client, url, civitaiHeaders(access), signal);
      if (answer.status === 404) throw new DlrError('not-found', `Civitai: model version ${versionId} not found`, { status: 404 });
      if (answer.status === 401) throw new DlrError('auth-required', 'Civitai API: Unauthorized (set api_key in the config, or CIVITAI_TOKEN)', { status: 401 });
      if (answer.status < 200 || answer.status >= 300) throw apiError(answer);
      if (answer.json === null || typeof answer.json !== 'object') throw new DlrError('invalid-response', `Civitai API ${url.pathname} did not answer with JSON`);
      return answer.json as { files?: unknown };
    },
    budget,
    signal,
  );
  const raw = json.files;
  if (!Array.isArray(raw) || raw.length === 0) throw new DlrError('not-found', `Civitai version ${versionId} has no files`);
  if (raw.length > MAX_LISTED_FILES) throw new DlrError('invalid-response', `Civitai lists ${raw.length} files for version ${versionId}`);
  const files = raw.map((entry): RemoteFile => {
    const f = (entry ?? {}) as { id?: unknown; name?: unknown; sizeKB?: unknown; hashes?: { SHA256?: unknown } | null };
    if (typeof f.name !== 'string') throw new DlrError('invalid-response', `Civitai version ${versionId} lists a file with no name`);
    const what = (why: string) => new DlrError('invalid-response', `Civitai version ${versionId}: ${showPath(f.name as string)} ${why}`);
    if (!Number.isSafeInteger(f.id)) throw what('has no file id');
    const sha = f.hashes?.SHA256;
    if (typeof sha !== 'string' || !/^[0-9a-f]{64}$/i.test(sha)) throw what('has no SHA-256, so it cannot be locked');
    if (typeof f.sizeKB !== 'number' || !Number.isFinite(f.sizeKB) || f.sizeKB < 0 || f.sizeKB > 2 ** 42) throw what('has no size');
    return { path: f.name, size: Math.round(f.sizeKB * 1024), sha256: sha.toLowerCase(), id: f.id as number, sizeTolerance: SIZE_TOLERANCE };
  });
  return { gated: false, files };
}

/** The download route asked for exactly one file of the version, by its id (WIRE.md 1.3). */
export function civitaiFileUrl(baseUrl: string, versionId: string, fileId: number): URL {
  const url = new URL(`${baseUrl.replace(/\/+$/, '')}/api/download/models/${versionId}`);
  url.searchParams.set('fileId', String(fileId));
  return url;
}
