import { statSync } from 'node:fs';
import { PartFile, partPathFor } from '../engine/part-file.js';
import { hashCachePathFor, knownFor, readHashCache } from '../history/hash-cache.js';
import type { PlanEntry } from '../history/plan.js';
import { mapBounded } from '../util/bounded.js';
import { listedPaths, pathsPresent } from '../util/presence.js';
import { TimeSlice } from '../util/time-slice.js';

export interface EntrySizes {
  /** Whether the entry's file is on disk. */
  readonly present: boolean[];
  /** Its size in bytes where known, else undefined. */
  readonly size: Array<number | undefined>;
}

/**
 * What `dlr history` shows of each entry's size, without a request: a file
 * not there, the size a part's sidecar remembers, else the size the hash
 * cache remembers (a site published it once); a file on disk, the hash
 * cache's size too, or with `statPresent` (`--sizes`) its size on disk.
 *
 * Decision: sizes on disk are asked for, not shown by default. A `stat` per
 * present file is ~5 µs of main-thread work; on the 100k-row bench that was
 * ~0.5 s plus its garbage, and took `dlr history` from 1.3 s to 2.4 s, over
 * its 2 s goal. Presence itself comes from one listing per folder.
 */
export async function entrySizes(entries: readonly PlanEntry[], historyPath: string, signal?: AbortSignal, statPresent = false): Promise<EntrySizes> {
  const present = await pathsPresent(
    entries.map((e) => e.path),
    signal,
  );
  const size = new Array<number | undefined>(entries.length);
  const missing: number[] = [];
  const slice = new TimeSlice(signal);
  for (let i = 0; i < entries.length; i++) {
    if (slice.due()) await slice.pause();
    const path = entries[i]!.path;
    if (!present[i]) {
      missing.push(i);
      continue;
    }
    if (!statPresent) continue;
    // A folder, a dangling link: there, but no file size to show.
    const st = statSync(path!, { throwIfNoEntry: false });
    size[i] = st?.isFile() ? st.size : undefined;
  }
  if (!statPresent) {
    // Present files: the size their source published, when the hash cache has it.
    const cache = await readHashCache(hashCachePathFor(historyPath));
    if (cache.size > 0) for (let i = 0; i < entries.length; i++) if (present[i]) size[i] = knownFor(cache, entries[i]!.url)?.size;
  }
  if (missing.length === 0) return { present, size };

  const parts = await listedPaths(
    missing.map((i) => (entries[i]!.path === undefined ? undefined : partPathFor(entries[i]!.path!))),
    signal,
  );
  const withPart = missing.filter((_, k) => parts[k]);
  const totals = await mapBounded(withPart, async (i) => (await new PartFile(entries[i]!.path!).readSidecar())?.total, { signal });
  withPart.forEach((i, k) => (size[i] = totals[k]));
  if (missing.some((i) => size[i] === undefined)) {
    const cache = await readHashCache(hashCachePathFor(historyPath));
    if (cache.size > 0) for (const i of missing) size[i] ??= knownFor(cache, entries[i]!.url)?.size;
  }
  return { present, size };
}
