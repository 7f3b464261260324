import { UsageError } from '../errors.js';

/**
 * `--include` / `--exclude` patterns, matched against a file's path in the
 * repository the way huggingface_hub's `allow_patterns` / `ignore_patterns`
 * are (Python's fnmatch): `*` matches any run of characters, `/` included
 * (so `onnx/*` also takes `onnx/sub/x`, and `**` means the same as `*`);
 * `?` one character; `[abc]`, `[a-z]`, `[!abc]` (or `[^abc]`) one character
 * of a set, and a `[` with no closing `]` is a plain `[`; a pattern ending in
 * `/` takes everything under that folder. Matching is case-sensitive and
 * against the whole path.
 *
 * Written here, not a dependency: patterns come from the command line and
 * paths from an untrusted listing, so the cost has to be known. Only `*`
 * ever backtracks, and only to the most recent `*`, so a match costs at most
 * path length × pattern length steps; patterns are capped below and paths by
 * the listing (src/pull/repo-path.ts).
 */
export const MAX_PATTERN_CHARS = 256;
export const MAX_PATTERNS = 32;

type Token =
  | { readonly kind: 'star' }
  | { readonly kind: 'any' }
  | { readonly kind: 'char'; readonly char: string }
  | { readonly kind: 'set'; readonly negate: boolean; readonly chars: string; readonly ranges: ReadonlyArray<readonly [string, string]> };

export interface Glob {
  readonly source: string;
  readonly tokens: readonly Token[];
}

export function compileGlob(pattern: string, flag = '--include'): Glob {
  if (pattern === '') throw new UsageError(`${flag} needs a pattern`);
  if (pattern.length > MAX_PATTERN_CHARS) throw new UsageError(`${flag}: a pattern may have at most ${MAX_PATTERN_CHARS} characters`);
  // huggingface_hub's _add_wildcard_to_directories: `onnx/` means `onnx/*`.
  const text = pattern.endsWith('/') ? `${pattern}*` : pattern;
  const tokens: Token[] = [];
  const chars = Array.from(text);
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '*') {
      // A run of stars is one star: it keeps the match linear in the run.
      if (tokens[tokens.length - 1]?.kind !== 'star') tokens.push({ kind: 'star' });
    } else if (c === '?') {
      tokens.push({ kind: 'any' });
    } else if (c === '[') {
      const set = readSet(chars, i);
      if (set === undefined) tokens.push({ kind: 'char', char: c });
      else {
        tokens.push(set.token);
        i = set.end;
      }
    } else {
      tokens.push({ kind: 'char', char: c });
    }
  }
  return { source: pattern, tokens };
}

/** `[...]` from `start`, as fnmatch reads it: a `]` right after `[` or `[!` is a member; no closing `]` → undefined. */
function readSet(chars: readonly string[], start: number): { token: Token; end: number } | undefined {
  let i = start + 1;
  let negate = false;
  if (chars[i] === '!' || chars[i] === '^') {
    negate = true;
    i++;
  }
  const first = i;
  while (i < chars.length && (chars[i] !== ']' || i === first)) i++;
  if (i >= chars.length) return undefined;
  const body = chars.slice(first, i);
  let members = '';
  const ranges: Array<[string, string]> = [];
  for (let j = 0; j < body.length; j++) {
    if (body[j + 1] === '-' && j + 2 < body.length) {
      ranges.push([body[j]!, body[j + 2]!]);
      j += 2;
    } else {
      members += body[j];
    }
  }
  return { token: { kind: 'set', negate, chars: members, ranges }, end: i };
}

function matchOne(token: Token, char: string): boolean {
  switch (token.kind) {
    case 'any':
      return true;
    case 'char':
      return token.char === char;
    case 'set': {
      const inSet = token.chars.includes(char) || token.ranges.some(([lo, hi]) => lo <= char && char <= hi);
      return inSet !== token.negate;
    }
    default:
      return false;
  }
}

/** Whether the whole `path` matches. */
export function globMatches(glob: Glob, path: string): boolean {
  const tokens = glob.tokens;
  const chars = Array.from(path);
  let t = 0;
  let p = 0;
  // Where to resume after the most recent star: its token index and the path position it has swallowed up to.
  let starToken = -1;
  let starPath = 0;
  while (p < chars.length) {
    const token = tokens[t];
    if (token?.kind === 'star') {
      starToken = t++;
      starPath = p;
    } else if (token !== undefined && matchOne(token, chars[p]!)) {
      t++;
      p++;
    } else if (starToken >= 0) {
      // Let the last star take one more character and try the rest again.
      t = starToken + 1;
      p = ++starPath;
    } else {
      return false;
    }
  }
  while (tokens[t]?.kind === 'star') t++;
  return t === tokens.length;
}

/** The files `--include` (any of, default all) and `--exclude` (none of) leave. */
export interface PathFilter {
  readonly include: readonly string[];
  readonly exclude: readonly string[];
  test(path: string): boolean;
}

export function pathFilter(include: readonly string[], exclude: readonly string[]): PathFilter {
  if (include.length > MAX_PATTERNS) throw new UsageError(`at most ${MAX_PATTERNS} --include patterns`);
  if (exclude.length > MAX_PATTERNS) throw new UsageError(`at most ${MAX_PATTERNS} --exclude patterns`);
  const allow = include.map((p) => compileGlob(p, '--include'));
  const deny = exclude.map((p) => compileGlob(p, '--exclude'));
  return {
    include,
    exclude,
    test: (path) => (allow.length === 0 || allow.some((g) => globMatches(g, path))) && !deny.some((g) => globMatches(g, path)),
  };
}
