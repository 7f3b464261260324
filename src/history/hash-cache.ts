import { readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { toDlrError } from '../errors.js';
import { tempPathBeside } from '../util/fs.js';
import type { ResolvedFile } from '../sources/types.js';
import { stripUrlCredentials } from '../http/credentials.js';
import { urlKey } from './plan.js';

/** What the sources published about each history URL, kept so `dlr verify` works offline. */
export interface KnownFile {
  readonly sha256?: string;
  readonly size?: number;
  readonly source: ResolvedFile['source'];
  /** Civitai version id or Hub commit. */
  readonly version?: string;
  /** Where the file was saved, for rows whose name came from the site. */
  readonly path?: string;
  readonly resolvedAt: string;
}

interface CacheFile {
  readonly version: 1;
  readonly files: Record<string, KnownFile>;
}

export function hashCachePathFor(historyPath: string): string {
  return join(dirname(historyPath), '.dlr-hashes.json');
}

/** A missing or unreadable cache is an empty one: it only saves requests. */
export async function readHashCache(path: string): Promise<Map<string, KnownFile>> {
  try {
    const data = JSON.parse(await readFile(path, 'utf8')) as Partial<CacheFile>;
    if (data.version !== 1 || typeof data.files !== 'object' || data.files === null) return new Map();
    return new Map(Object.entries(data.files));
  } catch {
    return new Map();
  }
}

/** History URLs minus credentials: the cache must never hold a key. */
function cacheKey(url: string): string {
  return urlKey(stripUrlCredentials(url));
}

export function knownFor(cache: ReadonlyMap<string, KnownFile>, url: string): KnownFile | undefined {
  return cache.get(cacheKey(url));
}

/** Merges new knowledge in and rewrites the cache atomically. Secrets never go in: keys are history URLs minus credentials. */
export async function updateHashCache(
  path: string,
  resolved: ReadonlyArray<{ readonly url: string; readonly file: ResolvedFile; readonly path?: string | undefined }>,
): Promise<void> {
  const known = resolved.filter(({ file }) => file.expect?.sha256 !== undefined || file.expect?.size !== undefined);
  if (known.length === 0) return;
  const cache = await readHashCache(path);
  const now = new Date().toISOString();
  for (const { url, file, path: saved } of known) {
    cache.set(cacheKey(url), {
      ...(saved !== undefined ? { path: saved } : {}),
      ...(file.expect?.sha256 ? { sha256: file.expect.sha256.toLowerCase() } : {}),
      ...(file.expect?.size !== undefined ? { size: file.expect.size } : {}),
      source: file.source,
      ...(file.version ? { version: file.version } : {}),
      resolvedAt: now,
    });
  }
  const tmp = tempPathBeside(path);
  try {
    await writeFile(tmp, `${JSON.stringify({ version: 1, files: Object.fromEntries(cache) }, null, 1)}\n`);
    await rename(tmp, path);
  } catch (error) {
    throw toDlrError(error, { path });
  }
}
