import { join } from 'node:path';
import { safeFileName } from '../engine/safe-name.js';
import { priorityOf } from './model-type.js';
import { DlrError } from '../errors.js';
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
 * itself is never reordered or rewritten.
 */
export function planDownloads(rows: readonly HistoryRow[], dirFor: (type: string) => string): PlanEntry[] {
  const firstIndex = new Map<string, number>();
  const winner = new Map<string, HistoryRow>();
  rows.forEach((row, index) => {
    const key = urlKey(row.url);
    if (!firstIndex.has(key)) firstIndex.set(key, index);
    winner.set(key, row);
  });
  const ordered = [...firstIndex.entries()].sort((a, b) => a[1] - b[1]).map(([key]) => winner.get(key)!);
  // Array.prototype.sort is stable (ES2019), so rows of one type keep their history order.
  ordered.sort((a, b) => priorityOf(a.type) - priorityOf(b.type));
  return ordered.map((row) => {
    const dir = dirFor(row.type);
    const name = row.filename.trim() === '' ? undefined : safeFileName(row.filename);
    return { ...row, dir, path: name === undefined ? undefined : join(dir, name) };
  });
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
