import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { DlrError, toDlrError } from '../errors.js';

/**
 * SHA-256 of a file, computed while it is written: the bytes already in a
 * part are read once when a resume starts, new bytes are hashed as they
 * arrive, so a finished file is never read a second time.
 */
export async function hashPrefix(path: string, length: number): Promise<Hash> {
  const hash = createHash('sha256');
  if (length === 0) return hash;
  try {
    for await (const chunk of createReadStream(path, { start: 0, end: length - 1, highWaterMark: 1 << 20 })) {
      hash.update(chunk as Buffer);
    }
  } catch (error) {
    throw toDlrError(error, { path });
  }
  return hash;
}

export function sameSha256(actual: string, expected: string): boolean {
  return actual.toLowerCase() === expected.trim().toLowerCase();
}

export function hashMismatch(path: string, actual: string, expected: string): DlrError {
  return new DlrError('hash-mismatch', `${path}: SHA-256 ${actual.slice(0, 12)}… does not match the published ${expected.toLowerCase().slice(0, 12)}…`);
}
