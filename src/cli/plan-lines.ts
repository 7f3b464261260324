import type { PlanEntry } from '../history/plan.js';
import { redactUrl } from '../http/credentials.js';
import { pathExists } from '../util/fs.js';

/** One tab-separated line per planned entry, as `redownload --dry-run` and `history` print them. */
export async function planLines(entries: readonly PlanEntry[], force: boolean): Promise<string[]> {
  const lines: string[] = [];
  for (const [i, e] of entries.entries()) {
    const present = e.path !== undefined && (await pathExists(e.path));
    const state = present ? (force ? 'replace' : 'present') : 'fetch';
    lines.push(`${i + 1}\t${e.type}\t${state}\t${e.path ?? `${e.dir}/(name from server)`}\t${redactUrl(e.url)}`);
  }
  return lines;
}
