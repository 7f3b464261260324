import { basename, join } from 'node:path';
import type { PlanEntry } from '../history/plan.js';

/**
 * The rule for a history row's type: a type written in the row wins; a row
 * with none takes the type its site gives once the URL is resolved (Civitai
 * names every model's type, as `dlr download` already uses it), and the
 * destination folder follows. Without a site type the row stays where the
 * plan put it (the default folder).
 */
export function withSiteType(entry: PlanEntry, siteType: string | undefined, dirFor: ((type: string) => string) | undefined): PlanEntry {
  if (entry.modelType.trim() !== '' || siteType === undefined || dirFor === undefined) return entry;
  const dir = dirFor(siteType);
  return { ...entry, type: siteType, dir, path: entry.path === undefined ? undefined : join(dir, basename(entry.path)) };
}

/**
 * The folders a batch may write to: its entries' own, and, when a row with
 * no type could be given one by its site, every configured folder (which
 * one is known only once the site answers, after the lock is taken).
 */
export function foldersToLock(entries: readonly PlanEntry[], allFolders: Iterable<string>, mayTakeSiteType: (entry: PlanEntry) => boolean): string[] {
  const dirs = new Set(entries.map((e) => e.dir));
  if (entries.some((e) => e.modelType.trim() === '' && mayTakeSiteType(e))) for (const dir of allFolders) dirs.add(dir);
  return [...dirs];
}
