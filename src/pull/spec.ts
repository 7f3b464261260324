import { UsageError } from '../errors.js';

/**
 * What `dlr pull` is asked for: a Hub repository at a revision, or a Civitai
 * model version. `source` is the lock's name for it (no revision: the lock
 * says which revision it was and the commit that was).
 */
export type PullSpec =
  | { readonly kind: 'hf'; readonly repo: string; readonly revision: string; readonly source: string }
  | { readonly kind: 'civitai'; readonly versionId: string; readonly source: string };

export const DEFAULT_REVISION = 'main';
const MAX_REVISION_CHARS = 256;
/** The Hub's repo ids: `org/name`, or a legacy `name`; letters, digits, `-`, `_`, `.` (at most 96 each). */
const REPO_ID = /^(?:[A-Za-z0-9][\w.-]{0,95}\/)?[A-Za-z0-9][\w.-]{0,95}$/;
const HUB_HOSTS = new Set(['huggingface.co', 'www.huggingface.co', 'hf.co']);

/** `hf:ORG/REPO[@REVISION]`, a Hub URL (`https://huggingface.co/ORG/REPO[/tree/REV]`, or on HF_ENDPOINT), or `civitai:VERSION_ID`. */
export function parsePullSpec(text: string, hfEndpoint: string): PullSpec {
  const trimmed = text.trim();
  if (/^hf:/i.test(trimmed)) {
    const body = trimmed.slice(3);
    const at = body.indexOf('@');
    const repo = at < 0 ? body : body.slice(0, at);
    return hubSpec(repo, at < 0 ? DEFAULT_REVISION : body.slice(at + 1), text);
  }
  if (/^civitai:/i.test(trimmed)) {
    const id = trimmed.slice('civitai:'.length);
    if (!/^\d{1,12}$/.test(id)) throw new UsageError(`civitai: takes a model version id (a number), got '${clip(id)}'`);
    return { kind: 'civitai', versionId: String(Number(id)), source: `civitai:${Number(id)}` };
  }
  if (/^https?:\/\//i.test(trimmed)) return fromHubUrl(trimmed, hfEndpoint);
  throw new UsageError(`dlr pull takes hf:ORG/REPO[@REVISION], a Hugging Face URL or civitai:VERSION_ID, got '${clip(text)}'`);
}

function fromHubUrl(text: string, hfEndpoint: string): PullSpec {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`not a valid URL: '${clip(text)}'`);
  }
  let endpointOrigin: string | undefined;
  try {
    endpointOrigin = new URL(hfEndpoint).origin;
  } catch {
    endpointOrigin = undefined;
  }
  if (!HUB_HOSTS.has(url.hostname.toLowerCase()) && url.origin !== endpointOrigin) {
    throw new UsageError(`dlr pull takes a Hugging Face repository URL (huggingface.co or HF_ENDPOINT), got ${url.origin}`);
  }
  const parts = url.pathname.split('/').filter(Boolean).map(decode);
  if (parts[0] === 'datasets' || parts[0] === 'spaces') throw new UsageError('dlr pull takes model repositories; datasets and spaces are not supported');
  // `/org/repo`, `/org/repo/tree/rev`; a legacy single-name repo (`/gpt2/tree/main`) too.
  const tree = parts.indexOf('tree');
  const repoParts = tree < 0 ? parts : parts.slice(0, tree);
  let revision = DEFAULT_REVISION;
  if (tree >= 0) {
    const rest = parts.slice(tree + 1);
    // `refs/pr/N` and `refs/convert/NAME` have slashes in them; anything after the revision is a folder view.
    const take = rest[0] === 'refs' && (rest[1] === 'pr' || rest[1] === 'convert') ? 3 : 1;
    if (rest.length < take) throw new UsageError(`${url.pathname}: no revision after /tree/`);
    if (rest.length > take) {
      throw new UsageError(`${url.pathname} is a folder of the repository; pull the repository with --include '${rest.slice(take).join('/')}/'`);
    }
    revision = rest.slice(0, take).join('/');
  }
  if (repoParts.length < 1 || repoParts.length > 2) throw new UsageError(`${url.pathname} is not a repository page (expected /ORG/REPO[/tree/REVISION])`);
  return hubSpec(repoParts.join('/'), revision, text);
}

function hubSpec(repo: string, revision: string, text: string): PullSpec {
  if (!REPO_ID.test(repo) || repo.includes('..')) throw new UsageError(`not a Hugging Face repository id: '${clip(repo)}' (expected ORG/REPO)`);
  if (revision === '' || revision.length > MAX_REVISION_CHARS || /[\u0000-\u001f\u007f]/.test(revision)) {
    throw new UsageError(`not a revision: '${clip(revision)}' in '${clip(text)}'`);
  }
  return { kind: 'hf', repo, revision, source: `hf:${repo}` };
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new UsageError(`malformed percent-escape in '${clip(segment)}'`);
  }
}

function clip(text: string): string {
  // eslint-disable-next-line no-control-regex
  const plain = text.replace(/[\u0000-\u001f\u007f]/g, '?');
  return plain.length > 80 ? `${plain.slice(0, 80)}…` : plain;
}
