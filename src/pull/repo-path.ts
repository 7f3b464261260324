import { DlrError } from '../errors.js';
import { safeFileName } from '../engine/safe-name.js';

/**
 * A file's path inside a repository, as an untrusted listing (or a
 * hand-edited lock) gives it, turned into a path under the pull's folder.
 * Git itself cannot hold `..`, `.`, empty or absolute components, so a path
 * with one is a hostile or broken server: refused, never "cleaned" into
 * something else. Each component is then made safe the way every name dlr
 * writes is (safeFileName), and the folders are kept: `onnx/model.onnx`.
 */
export const MAX_REPO_PATH_CHARS = 1024;
export const MAX_REPO_PATH_DEPTH = 32;

/** Why the path cannot be written, or undefined when it can. */
export function unsafeRepoPath(path: string): string | undefined {
  if (path.length === 0) return 'an empty path';
  if (path.length > MAX_REPO_PATH_CHARS) return `a path over ${MAX_REPO_PATH_CHARS} characters`;
  if (path.startsWith('/') || path.startsWith('\\') || /^[A-Za-z]:/.test(path)) return 'an absolute path';
  // A backslash is a separator on Windows and to safeFileName: `a\..\..\x` must not pass as one name.
  if (path.includes('\\')) return 'a backslash in the path';
  if (/[\u0000-\u001f\u007f]/.test(path)) return 'a control character in the path';
  const parts = path.split('/');
  if (parts.length > MAX_REPO_PATH_DEPTH) return `more than ${MAX_REPO_PATH_DEPTH} folders deep`;
  for (const part of parts) {
    if (part === '') return 'an empty path component';
    if (part === '.' || part === '..') return `a '${part}' component`;
  }
  return undefined;
}

/** Shows an untrusted path in one line of a message: escaped, and shortened. */
export function showPath(path: string): string {
  const shown = JSON.stringify(path.length > 120 ? `${path.slice(0, 120)}…` : path);
  return path.length > 120 ? `${shown} (${path.length} characters)` : shown;
}

/** The path relative to the pull's folder, with `/` separators; throws for an unsafe one. */
export function localPathFor(path: string): string {
  const why = unsafeRepoPath(path);
  if (why !== undefined) throw new DlrError('invalid-response', `refusing ${showPath(path)}: ${why}`);
  return path
    .split('/')
    .map((part) => safeFileName(part, '_'))
    .join('/');
}

/**
 * Local paths for every repository path, refusing two that would land on
 * the same file (a name made safe can meet another: `ab:c` and `ab_c`) and a
 * file that would sit where another needs a folder.
 */
export function localPaths(paths: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const taken = new Map<string, string>();
  for (const path of paths) {
    const local = localPathFor(path);
    const key = local.toLowerCase();
    const other = taken.get(key);
    // Case-folded: the same folder is often shared with macOS or Windows, whose file systems fold case.
    if (other !== undefined) throw new DlrError('invalid-response', `refusing ${showPath(path)}: it would be written over ${showPath(other)}`);
    taken.set(key, path);
    out.set(path, local);
  }
  for (const [path, local] of out) {
    const slash = local.lastIndexOf('/');
    for (let at = slash; at > 0; at = local.lastIndexOf('/', at - 1)) {
      const folder = taken.get(local.slice(0, at).toLowerCase());
      if (folder !== undefined) throw new DlrError('invalid-response', `refusing ${showPath(path)}: ${showPath(folder)} is a file, not a folder`);
    }
  }
  return out;
}
