import { stat, statfs } from 'node:fs/promises';
import { formatBytes } from '../util/units.js';
import { PartFile } from '../engine/part-file.js';
import type { PlanEntry } from '../history/plan.js';

/**
 * Bytes still to fetch that are known without asking any server: the totals
 * remembered in part sidecars from earlier runs, and with --force the size of
 * the file being replaced (the old copy stays until the new one is complete,
 * so both need room). Probing every URL with a
 * request would spend the rate limit this tool exists to respect, so
 * unknown sizes are left out and the warning says so.
 */
export async function knownRemainingBytes(entries: readonly PlanEntry[], force: boolean): Promise<{ bytes: number; unknown: number }> {
  let bytes = 0;
  let unknown = 0;
  for (const entry of entries) {
    if (entry.path === undefined) {
      unknown++;
      continue;
    }
    const existing = await stat(entry.path).then(
      (st) => st.size,
      () => undefined,
    );
    if (existing !== undefined && !force) continue;
    const { offset, sidecar } = await new PartFile(entry.path).inspect().catch(() => ({ offset: 0, sidecar: undefined }));
    if (sidecar?.total !== undefined) bytes += Math.max(0, sidecar.total - offset);
    else if (existing !== undefined) bytes += existing;
    else unknown++;
  }
  return { bytes, unknown };
}

/**
 * A warning when the known sizes do not fit on the destinations' file
 * systems (grouped by device, so two folders on one disk are counted once).
 */
export async function freeSpaceWarning(entries: readonly PlanEntry[], force: boolean): Promise<string | undefined> {
  const byDevice = new Map<number, { dir: string; entries: PlanEntry[] }>();
  for (const entry of entries) {
    const dev = await stat(entry.dir).then(
      (st) => st.dev,
      () => undefined,
    );
    if (dev === undefined) continue;
    const group = byDevice.get(dev) ?? { dir: entry.dir, entries: [] };
    group.entries.push(entry);
    byDevice.set(dev, group);
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
