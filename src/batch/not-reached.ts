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
  // All folders are listed first, so the loop over the entries is synchronous:
  // an await per entry costs ~2 s over 100k rows, where this takes a fraction.
  const dirs = force ? [] : [...new Set(entries.flatMap((e) => (e.path === undefined ? [] : [dirname(e.path)])))];
  const listings = new Map(
    await Promise.all(
      dirs.map(async (dir) => [dir, await readdir(dir).then((list): ReadonlySet<string> => new Set(list), () => new Set<string>())] as const),
    ),
  );
  return entries.map((entry): BatchItem => {
    const path = entry.path;
    const present = path !== undefined && listings.get(dirname(path))?.has(basename(path)) === true;
    const common = { url: redactUrl(entry.url), attempts: 0, retries: 0, bytesFetched: 0, durationMs: 0 };
    return present
      ? { subject: entry, result: { ...common, path, status: 'skipped', reason: 'exists' }, finishedAt: at }
      : {
          subject: entry,
          result: { ...common, path: undefined, status: 'failed', error: { code: 'interrupted', message: 'not started: interrupted' } },
          finishedAt: at,
          notStarted: true,
        };
  });
}
