import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../util/fs.js';

/**
 * The request rates the origins accepted, kept between runs in
 * `.dlr-state.json` beside the history, so the next nightly run starts from
 * what the upstream accepted last time instead of from a burst that earns
 * another 429. Entries older than a week are forgotten (limits change).
 */
export const STATE_FILE_NAME = '.dlr-state.json';
const MAX_AGE_MS = 7 * 86_400_000;
/** A state file is a few hundred bytes; a huge one is not ours, and is ignored. */
const MAX_STATE_BYTES = 1 << 20;

interface StateFile {
  readonly version: 1;
  readonly origins: Record<string, { requests_per_minute: number; learned_at: string }>;
}

export function stateFileFor(historyPath: string): string {
  return join(dirname(historyPath), STATE_FILE_NAME);
}

/** Learned rates still fresh (origin → requests per minute); an unreadable or foreign file counts as none. */
export async function readLearnedRates(path: string, now = Date.now()): Promise<Record<string, number>> {
  const state = await readState(path);
  const out: Record<string, number> = {};
  for (const [origin, entry] of Object.entries(state.origins)) {
    const at = Date.parse(entry.learned_at);
    if (Number.isFinite(at) && now - at < MAX_AGE_MS && entry.requests_per_minute > 0) out[origin] = entry.requests_per_minute;
  }
  return out;
}

/**
 * Records this run's learned rates: origins it talked to take their new
 * value (or lose it, having recovered: `visited` without a rate); others keep theirs.
 */
export async function writeLearnedRates(path: string, learned: Readonly<Record<string, number>>, visited: readonly string[], now = new Date()): Promise<void> {
  const state = await readState(path);
  const origins = { ...state.origins };
  for (const origin of visited) delete origins[origin];
  for (const [origin, rpm] of Object.entries(learned)) origins[origin] = { requests_per_minute: rpm, learned_at: now.toISOString() };
  if (Object.keys(origins).length === 0 && Object.keys(state.origins).length === 0) return;
  const sorted = Object.fromEntries(Object.entries(origins).sort(([a], [b]) => a.localeCompare(b)));
  await writeFileAtomic(path, `${JSON.stringify({ version: 1, origins: sorted }, null, 2)}\n`);
}

async function readState(path: string): Promise<StateFile> {
  try {
    const text = await readFile(path, 'utf8');
    if (text.length > MAX_STATE_BYTES) return { version: 1, origins: {} };
    const json = JSON.parse(text) as Partial<StateFile>;
    if (json.version !== 1 || typeof json.origins !== 'object' || json.origins === null) return { version: 1, origins: {} };
    const origins: StateFile['origins'] = {};
    for (const [origin, entry] of Object.entries(json.origins)) {
      if (typeof entry?.requests_per_minute === 'number' && typeof entry.learned_at === 'string') origins[origin] = entry;
    }
    return { version: 1, origins };
  } catch {
    return { version: 1, origins: {} };
  }
}
