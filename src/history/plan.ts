import { join } from 'node:path';
import { safeFileName } from '../engine/safe-name.js';
import { priorityOf } from '../domain/model-type.js';
import { DlrError } from '../errors.js';
import { TimeSlice } from '../util/time-slice.js';
import type { HistoryRow, InvalidRow } from './read-history.js';

/** One file to fetch, after dedupe and sorting. */
export interface PlanEntry extends HistoryRow {
  /** The destination directory for its type. */
  readonly dir: string;
  /** The final path, when the row names a file; else the name comes from the server. */
  readonly path: string | undefined;
}

/**
 * Dedupe by URL — the last row for a URL wins (its type and file name), at
 * that URL's first position — then a stable sort by type priority. The CSV
 * itself is never reordered or rewritten. Linear in the rows (a Map keeps a
 * key at its first insertion, and the sort is a bucket per priority), and
 * it gives way to the event loop every few milliseconds so a signal is
 * handled while a very large history is planned.
 */
export async function planDownloads(
  rows: readonly HistoryRow[],
  dirFor: (type: string) => string,
  options: { readonly signal?: AbortSignal } = {},
): Promise<PlanEntry[]> {
  const slice = new TimeSlice(options.signal);
  // Map.set on a key already present keeps its place: the first position, the last row.
  const winner = new Map<string, HistoryRow>();
  for (const row of rows) {
    if (slice.due()) await slice.pause();
    winner.set(urlKey(row.url), row);
  }
  const byPriority = new Map<number, HistoryRow[]>();
  for (const row of winner.values()) {
    const priority = priorityOf(row.type);
    let bucket = byPriority.get(priority);
    if (bucket === undefined) byPriority.set(priority, (bucket = []));
    bucket.push(row);
  }
  const folders = new Map<string, { dir: string; prefix: string }>();
  const entries: PlanEntry[] = [];
  for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
    for (const row of byPriority.get(priority)!) {
      if (slice.due()) await slice.pause();
      let folder = folders.get(row.type);
      if (folder === undefined) folders.set(row.type, (folder = folderOf(dirFor(row.type))));
      const name = row.filename.trim() === '' ? undefined : safeFileName(row.filename);
      entries.push({
        line: row.line,
        timestamp: row.timestamp,
        modelType: row.modelType,
        type: row.type,
        url: row.url,
        filename: row.filename,
        dir: folder.dir,
        path: name === undefined ? undefined : folder.prefix + name,
      });
    }
  }
  return entries;
}

/**
 * `join(dir, name)` for a name that safeFileName made (one component, never
 * `.` or `..`) is `join(dir, 'x')` less its `x`: the prefix is normalized
 * once per folder instead of once per row.
 */
function folderOf(dir: string): { dir: string; prefix: string } {
  return { dir, prefix: join(dir, 'x').slice(0, -1) };
}

/**
 * Two rows for different URLs that name the same file: the first (in plan
 * order, so the higher priority) keeps the path; each later one becomes an
 * invalid row, reported as failed. Otherwise the second would be "skipped,
 * already exists" (the other model's bytes) or, with --force, overwrite it:
 * either way a model silently missing.
 */
export function splitPathCollisions(entries: readonly PlanEntry[]): { entries: PlanEntry[]; collisions: InvalidRow[] } {
  const owner = new Map<string, PlanEntry>();
  const kept: PlanEntry[] = [];
  const collisions: InvalidRow[] = [];
  for (const entry of entries) {
    const first = entry.path === undefined ? undefined : owner.get(entry.path);
    if (first === undefined) {
      if (entry.path !== undefined) owner.set(entry.path, entry);
      kept.push(entry);
      continue;
    }
    collisions.push({
      line: entry.line,
      row: { timestamp: entry.timestamp, modelType: entry.modelType, url: entry.url, filename: entry.filename },
      error: new DlrError('invalid-row', `line ${entry.line}: ${entry.path} is also the file of line ${first.line} (another URL); give one of them another filename`),
    });
  }
  return { entries: kept, collisions };
}

/** URLs that differ only in ways URL parsing normalizes (host case, default port, `..`) are the same download. */
export function urlKey(url: string): string {
  try {
    return new URL(url).href;
  } catch {
    return url;
  }
}
