import type { HttpClient } from '../http/client.js';
import { hashCachePathFor, readHashCache, updateHashCache } from '../history/hash-cache.js';
import type { PlanEntry } from '../history/plan.js';
import type { ResolvedFile, SourceSettings } from '../sources/types.js';
import { sourceHashLookup } from './source-lookup.js';
import { verifyFiles, type VerifyResult } from './verify-files.js';

/**
 * The plan of a repair (`verify --repair`, `redownload --repair`): every
 * entry is verified as `dlr verify` does (remembered hash, else the source's,
 * else Civitai's by-hash for a model page), and only the missing and the
 * corrupt are kept, to be fetched again over what is there. An ok or
 * unverifiable file is left alone: a file no hash can judge is not replaced
 * on a guess. The batch replaces a corrupt file only once the new bytes are
 * complete and match the source's hash (the engine hashes them before the
 * rename), so a failed repair leaves the old file as it was.
 */
export function repairPlan(
  settings: { readonly historyPath: string; readonly sources: SourceSettings },
  onResult?: (result: VerifyResult) => void,
): (entries: readonly PlanEntry[], client: HttpClient, signal: AbortSignal) => Promise<PlanEntry[]> {
  return async (entries, client, signal) => {
    const cachePath = hashCachePathFor(settings.historyPath);
    const learned: Array<{ url: string; file: ResolvedFile }> = [];
    const results = await verifyFiles(entries, await readHashCache(cachePath), sourceHashLookup(settings.sources, client, signal, learned), onResult);
    // What the sources said is remembered, as verify does; a cache that cannot be written costs only requests.
    await updateHashCache(cachePath, learned).catch(() => undefined);
    return results.filter((r) => r.state === 'missing' || r.state === 'corrupt').map((r) => r.entry);
  };
}
