import { stat } from 'node:fs/promises';
import { hashPrefix, sameSha256 } from '../engine/hashing.js';
import type { PlanEntry } from '../history/plan.js';
import { knownFor, type KnownFile } from '../history/hash-cache.js';

export type VerifyState = 'ok' | 'corrupt' | 'missing' | 'unverifiable';

export interface VerifyResult {
  readonly entry: PlanEntry;
  readonly state: VerifyState;
  readonly detail: string;
}

/**
 * Re-hashes each planned file on disk against the hash its source published:
 * from the cache when known (offline), else from `lookup` (the source's API),
 * which may return undefined. A file is `unverifiable` when no hash exists
 * for it (plain URLs, non-LFS Hub files) — present, but not provably right.
 */
export async function verifyFiles(
  entries: readonly PlanEntry[],
  cache: ReadonlyMap<string, KnownFile>,
  lookup: ((entry: PlanEntry) => Promise<string | undefined>) | undefined,
  onResult?: (result: VerifyResult) => void,
): Promise<VerifyResult[]> {
  const results: VerifyResult[] = [];
  const report = (entry: PlanEntry, state: VerifyState, detail: string) => {
    const result = { entry, state, detail };
    results.push(result);
    onResult?.(result);
  };
  for (const planned of entries) {
    const known = knownFor(cache, planned.url);
    // A row without a file name was saved under the site's name; the cache remembers where.
    const entry = planned.path === undefined && known?.path !== undefined ? { ...planned, path: known.path } : planned;
    if (entry.path === undefined) {
      report(entry, 'unverifiable', 'the history row has no file name and no earlier run saved it');
      continue;
    }
    const size = await stat(entry.path).then(
      (st) => (st.isFile() ? st.size : undefined),
      () => undefined,
    );
    if (size === undefined) {
      report(entry, 'missing', 'not on disk');
      continue;
    }
    let expected = known?.sha256;
    if (expected === undefined && lookup) {
      try {
        expected = await lookup(entry);
      } catch (error) {
        report(entry, 'unverifiable', `the source could not be asked: ${(error as Error).message}`);
        continue;
      }
    }
    if (expected === undefined) {
      report(entry, 'unverifiable', 'the source publishes no hash for it');
      continue;
    }
    if (known?.size !== undefined && known.size !== size && known.source !== 'civitai') {
      report(entry, 'corrupt', `size ${size} bytes, expected ${known.size}`);
      continue;
    }
    const actual = (await hashPrefix(entry.path, size)).digest('hex');
    if (sameSha256(actual, expected)) report(entry, 'ok', `sha256 ${actual.slice(0, 12)}…`);
    else report(entry, 'corrupt', `sha256 ${actual.slice(0, 12)}… expected ${expected.toLowerCase().slice(0, 12)}…`);
  }
  return results;
}
