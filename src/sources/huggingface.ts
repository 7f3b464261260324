import { DlrError } from '../errors.js';
import type { InspectedResponse } from '../engine/types.js';
import { errorForStatus, header, type HeaderMap } from '../http/status-error.js';
import { RetryBudget, withRetries } from '../policy/with-retries.js';
import { USER_AGENT } from '../version.js';
import type { ResolvedFile, SourceContext } from './types.js';

const HUB_HOSTS = new Set(['huggingface.co', 'www.huggingface.co', 'hf.co']);
const TOKEN_HINT = "set HF_TOKEN or run 'hf auth login'";

interface HubRef {
  /** `datasets/` or `spaces/` for those repo kinds, else empty. */
  readonly kindPrefix: string;
  readonly repo: string;
  /** Decoded: `main`, a commit, or `refs/pr/1` (re-encoded as one segment when sent). */
  readonly revision: string;
  /** Path inside the repo, still percent-encoded as it appeared. */
  readonly path: string;
  /** The path's last segment, decoded. */
  readonly filename: string;
}

export function isHubUrl(url: URL, endpoint: string): boolean {
  return HUB_HOSTS.has(url.hostname.toLowerCase()) || url.origin === new URL(endpoint).origin;
}

/**
 * `{hub}/[datasets/|spaces/]{repo}/resolve/{revision}/{path}` (WIRE.md 2.1). A
 * `/blob/` URL (the file's web page, which users copy from the browser) is
 * read as the same file's `/resolve/` URL. The hub's pull-request and
 * conversion revisions, `refs/pr/N` and `refs/convert/<name>`, have slashes
 * in them and appear in URLs both written out and as one encoded segment
 * (`refs%2Fpr%2F1`, as huggingface_hub quotes a revision).
 */
export function parseHubUrl(url: URL): HubRef {
  const parts = url.pathname.split('/').filter(Boolean);
  const kindPrefix = parts[0] === 'datasets' || parts[0] === 'spaces' ? `${parts.shift()}/` : '';
  const at = parts.findIndex((p) => p === 'resolve' || p === 'blob');
  const slashed = parts[at + 1] === 'refs' && (parts[at + 2] === 'pr' || parts[at + 2] === 'convert');
  const pathAt = at + 1 + (slashed ? 3 : 1);
  if (at < 1 || at > 2 || parts.length <= pathAt) {
    throw new DlrError('invalid-row', `not a Hugging Face file URL: ${url.pathname} (expected /{repo}/resolve/{revision}/{path})`);
  }
  const rest = parts.slice(pathAt);
  const path = rest.join('/');
  decodeOrRefuse(path, url);
  return {
    kindPrefix,
    repo: parts.slice(0, at).join('/'),
    revision: decodeOrRefuse(parts.slice(at + 1, pathAt).join('/'), url),
    path,
    filename: decodeOrRefuse(rest[rest.length - 1]!, url),
  };
}

/** A broken percent-escape (`%E0%A4`, `%zz`) is a bad row, not a bug in dlr. */
function decodeOrRefuse(text: string, url: URL): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new DlrError('invalid-row', `malformed percent-escape in the Hugging Face URL path: ${url.pathname}`);
  }
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
  const hubOrigin = new URL(hub).origin;
  // One path segment whatever the revision holds: `refs/pr/1` goes as `refs%2Fpr%2F1`.
  const fileUrl = (revision: string) => new URL(`${hub}/${ref.kindPrefix}${ref.repo}/resolve/${encodeURIComponent(revision)}/${ref.path}`);

  const probe = await withRetries(
    async () => {
      const res = await ctx.client.send(
        // The same User-Agent as the GETs: the probe counts against the same limits.
        { url: fileUrl(ref.revision), method: 'HEAD', headers: { 'user-agent': USER_AGENT, ...headers, 'accept-encoding': 'identity' }, signal: ctx.signal },
        { stopAtRedirect: carriesFileMetadata },
      );
      await res.body.dump().catch(() => undefined);
      const error = hubError(res.status, res.headers);
      if (error) throw error;
      return res;
    },
    ctx.retryBudget ?? new RetryBudget(ctx.client.policy),
    ctx.signal,
  );

  const commit = header(probe.headers, 'x-repo-commit');
  const linkedEtag = header(probe.headers, 'x-linked-etag')?.replace(/^W\//, '').replace(/"/g, '');
  const sha256 = linkedEtag !== undefined && /^[0-9a-f]{64}$/i.test(linkedEtag) ? linkedEtag : undefined;
  // Content-Length is the file's size only on a direct, uncoded answer: a coded
  // body's length is the coded one, so huggingface_hub reads it as "unknown" (WIRE.md 2.1).
  const coding = header(probe.headers, 'content-encoding')?.trim().toLowerCase();
  const uncoded = coding === undefined || coding === '' || coding === 'identity';
  const sizeText = header(probe.headers, 'x-linked-size') ?? (probe.status === 200 && uncoded ? header(probe.headers, 'content-length') : undefined);
  const size = sizeText !== undefined && /^\d+$/.test(sizeText) ? Number(sizeText) : undefined;
  return {
    source: 'huggingface',
    url: commit && /^[0-9a-f]{40}$/i.test(commit) ? fileUrl(commit) : fileUrl(ref.revision),
    headers,
    filename: ref.filename,
    expect: { ...(sha256 ? { sha256 } : {}), ...(size !== undefined ? { size } : {}) },
    inspect: (res: InspectedResponse) => (res.status === 403 && res.url.origin !== hubOrigin ? expiredCdnLink() : hubError(res.status, res.headers)),
    ...(commit ? { version: commit } : {}),
  };
}

/**
 * The CDN link /resolve redirects to is signed and expires (WIRE.md 2.2); a 403
 * from it is retried, and every attempt starts again from /resolve, which
 * hands out a fresh link.
 */
export function expiredCdnLink(): DlrError {
  return new DlrError('forbidden', 'the CDN refused the signed download link (expired?); asking the hub for a new one', { status: 403, retryable: true });
}

/** The hub's errors, told apart by `X-Error-Code` (huggingface_hub's hf_raise_for_status). */
export function hubError(status: number, headers: HeaderMap): DlrError | undefined {
  if (status < 400) return undefined;
  const code = header(headers, 'x-error-code');
  const message = header(headers, 'x-error-message');
  // A bad token first, whatever X-Error-Code comes with it: this message is the
  // hub's only word for it (WIRE.md 2.1), and until the token is fixed no other
  // answer means anything (with a bad token a RepoNotFound proves nothing).
  if (status === 401 && message?.toLowerCase().includes('invalid credentials')) {
    return new DlrError('auth-required', 'Hugging Face: HF_TOKEN is invalid', { status });
  }
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
    return new DlrError('auth-required', `Hugging Face: authentication required (${TOKEN_HINT}; a missing repository also answers 401)`, { status });
  }
  return errorForStatus(status, headers, message);
}

/**
 * An LFS file's metadata lives on the hub's redirect to the CDN (WIRE.md
 * 2.1: "for LFS files the metadata lives on the redirect response itself"),
 * so the probe stops there even when the CDN shares the hub's origin (a
 * mirror, a stand-in); relative hops without it (the 307 to resolve-cache)
 * are followed.
 */
function carriesFileMetadata(redirect: { readonly headers: HeaderMap }): boolean {
  return header(redirect.headers, 'x-linked-etag') !== undefined || header(redirect.headers, 'x-linked-size') !== undefined;
}
