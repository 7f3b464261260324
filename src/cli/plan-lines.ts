import type { PlanEntry } from '../history/plan.js';
import { redactUrl } from '../http/credentials.js';
import { pathsPresent } from '../util/presence.js';
import { TimeSlice } from '../util/time-slice.js';

/** One tab-separated line per planned entry, as `redownload --dry-run` and `history` print them. */
export async function planLines(entries: readonly PlanEntry[], force: boolean, signal?: AbortSignal): Promise<string[]> {
  // All presence checks first, many at a time: one after another, they were most of `dlr history`'s time.
  const present = await pathsPresent(
    entries.map((e) => e.path),
    signal,
  );
  const slice = new TimeSlice(signal);
  const lines: string[] = [];
  for (const [i, e] of entries.entries()) {
    if (slice.due()) await slice.pause();
    const state = present[i] ? (force ? 'replace' : 'present') : 'fetch';
    lines.push(`${i + 1}\t${e.type}\t${state}\t${e.path ?? `${e.dir}/(name from server)`}\t${redactUrl(e.url)}`);
  }
  return lines;
}
