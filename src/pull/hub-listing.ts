import { DlrError } from '../errors.js';
import { fetchJson } from '../http/fetch-json.js';
import type { HttpClient } from '../http/client.js';
import { withRetries, type RetryBudget } from '../policy/with-retries.js';
import { expiredCdnLink, hubError } from '../sources/huggingface.js';
import type { InspectedResponse } from '../engine/types.js';
import { MAX_LISTED_FILES, type RemoteFile, type RemoteListing } from './remote-file.js';
import { showPath } from './repo-path.js';

export interface HubAccess {
  /** The hub's origin and any path prefix (`HF_ENDPOINT`), no trailing slash. */
  readonly endpoint: string;
  readonly token: string | undefined;
}

export function hubHeaders(access: HubAccess): Record<string, string> {
  return access.token ? { authorization: `Bearer ${access.token}` } : {};
}

/**
 * The repository at a revision, as huggingface_hub's `model_info(repo,
 * revision, files_metadata=True)` asks for it (WIRE.md 2.3):
 * `/api/models/{repo}/revision/{quoted revision}?blobs=true`. `sha` is the
 * commit the revision points at; each of `siblings[]` has `rfilename`,
 * `size`, `blobId` (the git blob id) and, for an LFS file, `lfs {sha256,
 * size}`. One request, so every file comes from the same commit.
 */
export async function listHubRepo(
  repo: string,
  revision: string,
  access: HubAccess,
  client: HttpClient,
  budget: RetryBudget,
  signal?: AbortSignal,
): Promise<RemoteListing> {
  const url = new URL(`${access.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}?blobs=true`);
  const answer = await withRetries(
    async () => {
      const res = await fetchJson(client, url, hubHeaders(access), signal);
      const error = hubError(res.status, res.headers);
      if (error) throw error.code === 'not-found' && /revision/i.test(error.message) ? new DlrError('not-found', `Hugging Face: revision '${revision}' not found in ${repo}`, { status: res.status }) : error;
      if (res.status !== 200 || res.json === null || typeof res.json !== 'object') {
        throw new DlrError('invalid-response', `the Hub's listing of ${repo} is not JSON (HTTP ${res.status})`);
      }
      return res.json as Record<string, unknown>;
    },
    budget,
    signal,
  );
  return readListing(answer, repo);
}

function readListing(json: Record<string, unknown>, repo: string): RemoteListing {
  const commit = json.sha;
  if (typeof commit !== 'string' || !/^[0-9a-f]{40}$/.test(commit)) throw new DlrError('invalid-response', `the Hub's listing of ${repo} names no commit`);
  const siblings = json.siblings;
  if (!Array.isArray(siblings)) throw new DlrError('invalid-response', `the Hub's listing of ${repo} has no files (siblings)`);
  if (siblings.length > MAX_LISTED_FILES) throw new DlrError('invalid-response', `the Hub lists ${siblings.length} files in ${repo}; dlr pull takes at most ${MAX_LISTED_FILES}`);
  const files = siblings.map((raw): RemoteFile => {
    const s = (raw ?? {}) as { rfilename?: unknown; size?: unknown; blobId?: unknown; lfs?: { sha256?: unknown; size?: unknown } | null };
    if (typeof s.rfilename !== 'string') throw new DlrError('invalid-response', `the Hub's listing of ${repo} has a file with no name`);
    const what = (why: string) => new DlrError('invalid-response', `the Hub's listing of ${repo}: ${showPath(s.rfilename as string)} ${why}`);
    const lfs = s.lfs;
    if (lfs !== undefined && lfs !== null) {
      if (typeof lfs.sha256 !== 'string' || !/^[0-9a-f]{64}$/i.test(lfs.sha256)) throw what('has no SHA-256');
      if (!Number.isSafeInteger(lfs.size) || (lfs.size as number) < 0) throw what('has no size');
      return { path: s.rfilename, size: lfs.size as number, sha256: lfs.sha256.toLowerCase() };
    }
    if (typeof s.blobId !== 'string' || !/^[0-9a-f]{40}$/i.test(s.blobId)) throw what('has no blob id (was the listing asked with ?blobs=true?)');
    if (!Number.isSafeInteger(s.size) || (s.size as number) < 0) throw what('has no size');
    return { path: s.rfilename, size: s.size as number, gitBlobId: s.blobId.toLowerCase() };
  });
  // `gated` is false, "auto" or "manual" (huggingface_hub's ModelInfo).
  return { commit, gated: json.gated !== undefined && json.gated !== false && json.gated !== null, files };
}

/** `/{repo}/resolve/{commit}/{path}`: the path's components quoted, its slashes kept (huggingface_hub's hf_hub_url). */
export function hubFileUrl(endpoint: string, repo: string, commit: string, path: string): URL {
  return new URL(`${endpoint}/${repo}/resolve/${commit}/${path.split('/').map(encodeURIComponent).join('/')}`);
}

/** The hub's answers told apart by X-Error-Code; a 403 from the CDN is an expired signed link, asked again. */
export function inspectHubFile(endpoint: string): (res: InspectedResponse) => DlrError | undefined {
  const hubOrigin = new URL(endpoint).origin;
  return (res) => (res.status === 403 && res.url.origin !== hubOrigin ? expiredCdnLink() : hubError(res.status, res.headers));
}
