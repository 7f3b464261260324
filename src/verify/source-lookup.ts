import type { HttpClient } from '../http/client.js';
import { parseHttpUrl } from '../http/parse-url.js';
import type { PlanEntry } from '../history/plan.js';
import { civitaiVersionByHash, unpinnedCivitaiModel } from '../sources/civitai.js';
import { resolveSource } from '../sources/resolve-source.js';
import type { ResolvedFile, SourceSettings } from '../sources/types.js';
import type { HashLookup } from './verify-files.js';

/**
 * The sources asked for the hashes `verify` needs, through the run's client
 * (its origin limiter included). What they publish is pushed to `learned`,
 * for the hash cache, so the next verify can work offline.
 */
export function sourceHashLookup(
  sources: SourceSettings,
  client: HttpClient,
  signal: AbortSignal | undefined,
  learned: Array<{ url: string; file: ResolvedFile }>,
): HashLookup {
  const ctx = { settings: sources, client, ...(signal ? { signal } : {}) };
  return {
    async published(entry: PlanEntry) {
      const file = await resolveSource(entry.url, ctx);
      learned.push({ url: entry.url, file });
      return file.expect?.sha256;
    },
    versionHolding(entry: PlanEntry) {
      let url: URL;
      try {
        url = parseHttpUrl(entry.url);
      } catch {
        return undefined;
      }
      const modelId = unpinnedCivitaiModel(url, sources.civitaiBaseUrl);
      if (modelId === undefined) return undefined;
      return async (sha256: string) => {
        const found = await civitaiVersionByHash(url, sha256, ctx);
        // A file of another model is no version of this one.
        return found !== undefined && found.modelId === modelId ? found.versionId : undefined;
      };
    },
  };
}
