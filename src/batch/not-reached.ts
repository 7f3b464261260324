import { readdir } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { redactUrl } from '../http/credentials.js';
import type { PlanEntry } from '../history/plan.js';
import type { BatchItem } from './types.js';

/**
 * The entries a signal kept from their turn. They are not failures of the
 * night: each is `notStarted` (counted apart, out of the success rate) and
 * failed `interrupted`, so the failures CSV lists it for the next run. One
 * that is already on disk is a skip, as its turn would have found it: without
 * --force, a file that is there needs no retry run.
 *
 * Decision: presence is read from one listing per folder, never a stat per
 * entry, so a stop over a 100k-row history still ends at once; a file whose
 * name would come from the server (no filename in the row) cannot be looked
 * up without a request and counts as not started.
 */
export async function notReachedItems(entries: readonly PlanEntry[], force: boolean, at: Date): Promise<BatchItem[]> {
  const listings = new Map<string, Promise<ReadonlySet<string>>>();
  const listing = (dir: string) => {
    let names = listings.get(dir);
    if (names === undefined) {
      names = readdir(dir).then(
        (list) => new Set(list),
        () => new Set<string>(),
      );
      listings.set(dir, names);
    }
    return names;
  };
  const items: BatchItem[] = [];
  for (const entry of entries) {
    const path = entry.path;
    const present = !force && path !== undefined && (await listing(dirname(path))).has(basename(path));
    const common = { url: redactUrl(entry.url), path, attempts: 0, retries: 0, bytesFetched: 0, durationMs: 0 };
    items.push(
      present
        ? { subject: entry, result: { ...common, status: 'skipped', reason: 'exists' }, finishedAt: at }
        : {
            subject: entry,
            result: { ...common, path: undefined, status: 'failed', error: { code: 'interrupted', message: 'not started: interrupted' } },
            finishedAt: at,
            notStarted: true,
          },
    );
  }
  return items;
}
