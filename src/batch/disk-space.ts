import { stat, statfs } from 'node:fs/promises';
import { formatBytes } from '../util/units.js';
import { PartFile } from '../engine/part-file.js';
import type { PlanEntry } from '../history/plan.js';
import { mapBounded } from '../util/bounded.js';
import { FolderListings } from '../util/presence.js';

/**
 * Bytes still to fetch that are known without asking any server: the totals
 * remembered in part sidecars from earlier runs, and with --force the size of
 * the file being replaced (the old copy stays until the new one is complete,
 * so both need room). Probing every URL with a
 * request would spend the rate limit this tool exists to respect, so
 * unknown sizes are left out and the warning says so.
 */
export async function knownRemainingBytes(entries: readonly PlanEntry[], force: boolean): Promise<{ bytes: number; unknown: number }> {
  // Many at a time: one file-system round trip after another made this the
  // longest wait of a 100k-row run whose files are all there.
  const listings = new FolderListings();
  const remaining = await mapBounded(entries, async (entry) =>
    // Without --force a file that is there needs nothing: its folder's listing says so without a stat.
    !force && entry.path !== undefined && (await listings.has(entry.path)) ? 0 : remainingOf(entry, force),
  );
  let bytes = 0;
  let unknown = 0;
  for (const value of remaining) {
    if (value === undefined) unknown++;
    else bytes += value;
  }
  return { bytes, unknown };
}

/** Bytes still to fetch for one entry: 0 when it is there (without --force), undefined when nobody knows yet. */
async function remainingOf(entry: PlanEntry, force: boolean): Promise<number | undefined> {
  if (entry.path === undefined) return undefined;
  const existing = await stat(entry.path).then(
    (st) => st.size,
    () => undefined,
  );
  if (existing !== undefined && !force) return 0;
  const { offset, sidecar } = await new PartFile(entry.path).inspect().catch(() => ({ offset: 0, sidecar: undefined }));
  if (sidecar?.total !== undefined) return Math.max(0, sidecar.total - offset);
  return existing;
}

/**
 * A warning when the known sizes do not fit on the destinations' file
 * systems (grouped by device, so two folders on one disk are counted once).
 */
export async function freeSpaceWarning(entries: readonly PlanEntry[], force: boolean): Promise<string | undefined> {
  // One stat per folder, not per entry: a history has a handful of folders and may have 100k rows.
  const byDir = new Map<string, PlanEntry[]>();
  for (const entry of entries) {
    const group = byDir.get(entry.dir);
    if (group === undefined) byDir.set(entry.dir, [entry]);
    else group.push(entry);
  }
  const byDevice = new Map<number, { dir: string; entries: PlanEntry[] }>();
  for (const [dir, group] of byDir) {
    const dev = await stat(dir).then(
      (st) => st.dev,
      () => undefined,
    );
    if (dev === undefined) continue;
    const device = byDevice.get(dev);
    if (device === undefined) byDevice.set(dev, { dir, entries: group });
    else device.entries = device.entries.concat(group);
  }
  const shortfalls: string[] = [];
  for (const { dir, entries: group } of byDevice.values()) {
    let bytes: number;
    let free: number;
    try {
      ({ bytes } = await knownRemainingBytes(group, force));
      if (bytes === 0) continue;
      const fs = await statfs(dir);
      free = fs.bavail * fs.bsize;
    } catch {
      // Only ever a warning: a folder we cannot measure is left out of it.
      continue;
    }
    if (free < bytes) shortfalls.push(`${dir} needs ${formatBytes(bytes)}, has ${formatBytes(free)} free (short by ${formatBytes(bytes - free)})`);
  }
  return shortfalls.length > 0 ? `not enough free space for the sizes known so far: ${shortfalls.join('; ')}` : undefined;
}
