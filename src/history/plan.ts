import { join } from 'node:path';
import { safeFileName } from '../engine/safe-name.js';
import { priorityOf } from './model-type.js';
import type { HistoryRow } from './read-history.js';

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

/** URLs that differ only in ways URL parsing normalizes (host case, default port, `..`) are the same download. */
export function urlKey(url: string): string {
  try {
    return new URL(url).href;
  } catch {
    return url;
  }
}
