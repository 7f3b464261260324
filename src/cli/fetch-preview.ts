import { readdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { PartFile, partPathFor } from '../engine/part-file.js';
import type { PlanEntry } from '../history/plan.js';
import { formatBytes } from '../util/units.js';

/** What a run is about to do, as far as the disk tells without a request. */
export interface FetchPreview {
  readonly total: number;
  /** Files already there (skipped without --force). */
  readonly present: number;
  /** Files to fetch. */
  readonly fetch: number;
  /** Bytes still to fetch for those whose size a part's sidecar remembers. */
  readonly knownBytes: number;
  /** Files to fetch whose size is known (so `fetch - known` are not known until asked). */
  readonly known: number;
}

/**
 * Counts files present and the sizes earlier runs left in part sidecars.
 * Decision: no request is sent for the prompt (it would spend the rate limit
 * before the user said yes), so sizes are known only for resumable parts.
 * One listing per folder says what is there; only the parts are opened.
 */
export async function previewFetch(entries: readonly PlanEntry[], force: boolean): Promise<FetchPreview> {
  const listings = new Map<string, Promise<ReadonlySet<string>>>();
  const names = (dir: string) => {
    let listing = listings.get(dir);
    if (listing === undefined) {
      listing = readdir(dir).then(
        (list) => new Set(list),
        () => new Set<string>(),
      );
      listings.set(dir, listing);
    }
    return listing;
  };
  let present = 0;
  let knownBytes = 0;
  let known = 0;
  for (const entry of entries) {
    if (entry.path === undefined) continue;
    const listing = await names(dirname(entry.path));
    if (!force && listing.has(basename(entry.path))) {
      present++;
      continue;
    }
    if (!listing.has(basename(partPathFor(entry.path)))) continue;
    const { offset, sidecar } = await new PartFile(entry.path).inspect().catch(() => ({ offset: 0, sidecar: undefined }));
    if (sidecar?.total === undefined) continue;
    known++;
    knownBytes += Math.max(0, sidecar.total - offset);
  }
  return { total: entries.length, present, fetch: entries.length - present, knownBytes, known };
}

/** `Download 5 of 6 files from the history (1 already there; 1.2 GiB to fetch for 2, the size of 3 not known until asked)? (y/N) ` */
export function confirmQuestion(p: FetchPreview): string {
  const files = (n: number) => `${n} file${n === 1 ? '' : 's'}`;
  const what = p.present > 0 ? `${p.fetch} of ${files(p.total)}` : files(p.fetch);
  const sizes =
    p.known === 0
      ? 'sizes not known until the servers are asked'
      : p.known === p.fetch
        ? `${formatBytes(p.knownBytes)} to fetch`
        : `${formatBytes(p.knownBytes)} to fetch for ${p.known}, the size of ${p.fetch - p.known} not known until asked`;
  const there = p.present > 0 ? `${p.present} already there; ` : '';
  return `Download ${what} from the history (${there}${sizes})? (y/N) `;
}
