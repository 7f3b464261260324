import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { toDlrError } from '../errors.js';

/** What a file on disk must be: its size (give or take, for Civitai's rounded sizes) and one of its hashes. */
export interface FileIdentity {
  readonly size: number;
  readonly sizeTolerance?: number;
  readonly sha256?: string;
  readonly gitBlobId?: string;
}

/**
 * The git blob id of `size` bytes read from `path`: sha1("blob <size>\0" +
 * bytes), the id the Hub lists for a small file (and the ETag it serves it
 * with, WIRE.md 2.2).
 */
export async function hashFile(path: string, kind: 'sha256' | 'git-blob', size: number, signal?: AbortSignal): Promise<string> {
  const hash = kind === 'sha256' ? createHash('sha256') : createHash('sha1').update(`blob ${size}\0`);
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, ...(signal ? { signal } : {}) })) hash.update(chunk as Buffer);
  } catch (error) {
    throw toDlrError(error, { path });
  }
  return hash.digest('hex');
}

/**
 * Whether the regular file at `path` is the one described: the size first
 * (a stat, free), then the whole file hashed. Every present file is hashed
 * on every run, `--frozen` included: no cache to trust or to go stale, at
 * the price of reading the bytes (SHA-256: about 530 MB/s on one core of the
 * project machine, 256 MiB hashed in memory).
 * Returns the size found when it matches, undefined when not (or absent).
 */
export async function matchingSize(path: string, expected: FileIdentity, signal?: AbortSignal): Promise<number | undefined> {
  let size: number;
  try {
    const st = await lstat(path);
    if (!st.isFile()) return undefined;
    size = st.size;
  } catch {
    return undefined;
  }
  if (Math.abs(size - expected.size) > (expected.sizeTolerance ?? 0)) return undefined;
  if (expected.sha256 !== undefined) return (await hashFile(path, 'sha256', size, signal)) === expected.sha256.toLowerCase() ? size : undefined;
  if (expected.gitBlobId !== undefined) return (await hashFile(path, 'git-blob', size, signal)) === expected.gitBlobId.toLowerCase() ? size : undefined;
  return undefined;
}
