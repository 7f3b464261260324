import { stat } from 'node:fs/promises';
import { hashPrefix, sameSha256 } from '../engine/hashing.js';
import type { PlanEntry } from '../history/plan.js';
import { knownFor, type KnownFile } from '../history/hash-cache.js';

export type VerifyState = 'ok' | 'corrupt' | 'missing' | 'unverifiable';

export interface VerifyResult {
  readonly entry: PlanEntry;
  readonly state: VerifyState;
  readonly detail: string;
  /** The file's SHA-256, when it was hashed. */
  readonly sha256?: string;
}

/** How a file's right hash is found when no earlier run remembered it: the sources, asked. */
export interface HashLookup {
  /** The hash the entry's source publishes for its file today; undefined when it publishes none. */
  published(entry: PlanEntry): Promise<string | undefined>;
  /**
   * For a URL that follows a model rather than naming a version (a Civitai
   * model page): a question to ask with the file's own hash — which version
   * of that model has it (undefined: none does). Undefined for other URLs,
   * whose one right hash `published` gives.
   */
  versionHolding?(entry: PlanEntry): ((sha256: string) => Promise<string | undefined>) | undefined;
}

/**
 * Re-hashes each planned file on disk against the hash its source published:
 * from the cache when known (offline), else from `lookup` (the source's API).
 * A file is `unverifiable` when no hash exists for it (plain URLs, non-LFS
 * Hub files) — present, but not provably right.
 *
 * A Civitai model page without a version follows the model: the file saved
 * may be last month's version, which is not corrupt for being older than
 * today's. Without a remembered hash, Civitai is asked which version has the
 * file's hash (by-hash); a version of that model is `ok`.
 */
export async function verifyFiles(
  entries: readonly PlanEntry[],
  cache: ReadonlyMap<string, KnownFile>,
  lookup: HashLookup | undefined,
  onResult?: (result: VerifyResult) => void,
): Promise<VerifyResult[]> {
  const results: VerifyResult[] = [];
  const report = (entry: PlanEntry, state: VerifyState, detail: string, sha256?: string) => {
    const result = { entry, state, detail, ...(sha256 !== undefined ? { sha256 } : {}) };
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
    const hashFile = async () => (await hashPrefix(entry.path!, size)).digest('hex');
    let expected = known?.sha256;
    if (expected === undefined && lookup) {
      const versionHolding = lookup.versionHolding?.(entry);
      try {
        if (versionHolding) {
          const actual = await hashFile();
          const version = await versionHolding(actual);
          if (version !== undefined) report(entry, 'ok', `sha256 ${actual.slice(0, 12)}… is version ${version} of the model`, actual);
          else report(entry, 'corrupt', `sha256 ${actual.slice(0, 12)}… is no published version of the model`, actual);
          continue;
        }
        expected = await lookup.published(entry);
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
    const actual = await hashFile();
    if (sameSha256(actual, expected)) report(entry, 'ok', `sha256 ${actual.slice(0, 12)}…`, actual);
    else report(entry, 'corrupt', `sha256 ${actual.slice(0, 12)}… expected ${expected.toLowerCase().slice(0, 12)}…`, actual);
  }
  return results;
}
