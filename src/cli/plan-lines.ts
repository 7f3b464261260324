import type { PlanEntry } from '../history/plan.js';
import { redactUrl } from '../http/credentials.js';
import { pathsPresent } from '../util/presence.js';
import { TimeSlice } from '../util/time-slice.js';

/** One tab-separated line per planned entry, as `redownload --dry-run` and `history` print them. */
export async function planLines(entries: readonly PlanEntry[], force: boolean, signal?: AbortSignal): Promise<string[]> {
  const lines: string[] = [];
  await writePlanLines(entries, force, (block) => lines.push(...block), signal);
  return lines;
}

/** Lines per block handed to `write`: one write per line was a system call per row of a 100k-row history. */
const LINES_PER_BLOCK = 1000;

/**
 * The same lines, handed out in blocks as they are made, so printing a
 * 100k-row plan never holds all of them (and their text) at once.
 */
export async function writePlanLines(
  entries: readonly PlanEntry[],
  force: boolean,
  write: (lines: string[]) => void,
  signal?: AbortSignal,
): Promise<void> {
  // All presence checks first: one listing per folder, lstat only for the names a listing lacks.
  const present = await pathsPresent(
    entries.map((e) => e.path),
    signal,
  );
  const slice = new TimeSlice(signal);
  let block: string[] = [];
  for (const [i, e] of entries.entries()) {
    if (slice.due()) await slice.pause();
    const state = present[i] ? (force ? 'replace' : 'present') : 'fetch';
    block.push(`${i + 1}\t${e.type}\t${state}\t${e.path ?? `${e.dir}/(name from server)`}\t${redactUrl(e.url)}`);
    if (block.length === LINES_PER_BLOCK) {
      write(block);
      block = [];
    }
  }
  if (block.length > 0) write(block);
}
