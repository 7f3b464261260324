import { DlrError } from '../errors.js';
import type { InspectedResponse } from '../engine/types.js';
import { sendRequest } from '../http/request.js';
import { errorForStatus, header, type HeaderMap } from '../http/status-error.js';
import { withRetries } from '../policy/with-retries.js';
import type { ResolvedFile, SourceContext } from './types.js';

const HUB_HOSTS = new Set(['huggingface.co', 'www.huggingface.co', 'hf.co']);
const TOKEN_HINT = 'set HF_TOKEN';

interface HubRef {
  /** `datasets/` or `spaces/` for those repo kinds, else empty. */
  readonly kindPrefix: string;
  readonly repo: string;
  readonly revision: string;
  /** Path inside the repo, still percent-encoded as it appeared. */
  readonly path: string;
}

export function isHubUrl(url: URL, endpoint: string): boolean {
  return HUB_HOSTS.has(url.hostname.toLowerCase()) || url.origin === new URL(endpoint).origin;
}

/**
 * `{hub}/[datasets/|spaces/]{repo}/resolve/{revision}/{path}`. A `/blob/`
 * URL (the file's web page, which users copy from the browser) is read as
 * the same file's `/resolve/` URL.
 */
export function parseHubUrl(url: URL): HubRef {
  const parts = url.pathname.split('/').filter(Boolean);
  const kindPrefix = parts[0] === 'datasets' || parts[0] === 'spaces' ? `${parts.shift()}/` : '';
  const at = parts.findIndex((p) => p === 'resolve' || p === 'blob');
  if (at < 1 || at > 2 || parts.length < at + 3) {
    throw new DlrError('invalid-row', `not a Hugging Face file URL: ${url.pathname} (expected /{repo}/resolve/{revision}/{path})`);
  }
  return { kindPrefix, repo: parts.slice(0, at).join('/'), revision: parts[at + 1]!, path: parts.slice(at + 2).join('/') };
}

/**
 * Asks the hub about the file the way huggingface_hub does (a HEAD that
 * stops at the CDN redirect): `X-Linked-Etag` is an LFS file's SHA-256,
 * `X-Linked-Size` its size, `X-Repo-Commit` the commit the revision points
 * at. The download is then pinned to that commit, so a branch that moves
 * between the probe and the transfer cannot mix versions.
 */
export async function resolveHuggingFace(url: URL, ctx: SourceContext): Promise<ResolvedFile> {
  const ref = parseHubUrl(url);
  const hub = ctx.settings.hfEndpoint.replace(/\/+$/, '');
  const headers: Record<string, string> = ctx.settings.hfToken ? { authorization: `Bearer ${ctx.settings.hfToken}` } : {};
  const fileUrl = (revision: string) => new URL(`${hub}/${ref.kindPrefix}${ref.repo}/resolve/${encodeURIComponent(revision)}/${ref.path}`);

  const probe = await withRetries(
    async () => {
      const res = await sendRequest(
        { url: fileUrl(decodeURIComponent(ref.revision)), method: 'HEAD', headers: { ...headers, 'accept-encoding': 'identity' }, signal: ctx.signal },
        { dispatcher: ctx.dispatcher, maxRedirects: ctx.policy.maxRedirects, idleTimeoutMs: ctx.policy.idleTimeoutMs, stopAtOtherOrigin: true },
      );
      await res.body.dump().catch(() => undefined);
      const error = hubError(res.status, res.headers);
      if (error) throw error;
      return res;
    },
    { policy: ctx.policy, ...(ctx.signal ? { signal: ctx.signal } : {}), ...(ctx.onRetry ? { onRetry: ctx.onRetry } : {}) },
  );

  const commit = header(probe.headers, 'x-repo-commit');
  const linkedEtag = header(probe.headers, 'x-linked-etag')?.replace(/^W\//, '').replace(/"/g, '');
  const sha256 = linkedEtag !== undefined && /^[0-9a-f]{64}$/i.test(linkedEtag) ? linkedEtag : undefined;
  const sizeText = header(probe.headers, 'x-linked-size') ?? (probe.status === 200 ? header(probe.headers, 'content-length') : undefined);
  const size = sizeText !== undefined && /^\d+$/.test(sizeText) ? Number(sizeText) : undefined;
  return {
    source: 'huggingface',
    url: commit && /^[0-9a-f]{40}$/i.test(commit) ? fileUrl(commit) : fileUrl(decodeURIComponent(ref.revision)),
    headers,
    filename: decodeURIComponent(ref.path.split('/').pop() ?? ''),
    expect: { ...(sha256 ? { sha256 } : {}), ...(size !== undefined ? { size } : {}) },
    inspect: (res: InspectedResponse) => hubError(res.status, res.headers),
    ...(commit ? { version: commit } : {}),
  };
}

/** The hub's errors, told apart by `X-Error-Code` (huggingface_hub's hf_raise_for_status). */
function hubError(status: number, headers: HeaderMap): DlrError | undefined {
  if (status < 400) return undefined;
  const code = header(headers, 'x-error-code');
  const message = header(headers, 'x-error-message');
  switch (code) {
    case 'RepoNotFound':
      return new DlrError('not-found', `Hugging Face: repository not found (or private/gated: ${TOKEN_HINT})`, { status });
    case 'RevisionNotFound':
      return new DlrError('not-found', 'Hugging Face: revision not found', { status });
    case 'EntryNotFound':
      return new DlrError('not-found', 'Hugging Face: file not found in the repository', { status });
    case 'GatedRepo':
      return new DlrError('forbidden', `Hugging Face: gated repository; accept its terms on the Hub and ${TOKEN_HINT}`, { status });
    default:
      break;
  }
  if (status === 401) {
    const bad = message?.toLowerCase().includes('invalid credentials');
    return new DlrError('auth-required', bad ? 'Hugging Face: HF_TOKEN is invalid' : `Hugging Face: authentication required (${TOKEN_HINT}; a missing repository also answers 401)`, {
      status,
    });
  }
  return errorForStatus(status, headers, message);
}
