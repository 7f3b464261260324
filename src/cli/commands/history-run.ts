import { EXIT_OK } from '../../errors.js';
import { redactUrl } from '../../http/credentials.js';
import { planDownloads } from '../../history/plan.js';
import { readHistory } from '../../history/read-history.js';
import { pathsPresent } from '../../util/presence.js';
import { TimeSlice } from '../../util/time-slice.js';
import type { CliIo } from '../io.js';
import { loadRunContext } from '../run-context.js';
import { planLines } from '../plan-lines.js';
import type { HistoryFlags } from './history.js';

/** Lines per write: one write per line was a system call per row of a 100k-row history. */
const LINES_PER_WRITE = 1000;

export async function runHistory(flags: HistoryFlags, io: CliIo): Promise<number> {
  const ctx = await loadRunContext(flags, io);
  const history = await readHistory(ctx.historyPath, { signal: io.signal });
  const entries = await planDownloads(history.rows, ctx.dirFor, { signal: io.signal });
  if (!flags.json) {
    const lines = await planLines(entries, false, io.signal);
    for (let i = 0; i < lines.length; i += LINES_PER_WRITE) io.stdout.write(`${lines.slice(i, i + LINES_PER_WRITE).join('\n')}\n`);
    for (const row of history.invalid) io.stderr.write(`dlr: ${ctx.historyPath} ${row.error.message}\n`);
    return EXIT_OK;
  }
  const present = await pathsPresent(
    entries.map((e) => e.path),
    io.signal,
  );
  const slice = new TimeSlice(io.signal);
  const plan = [];
  for (const [i, e] of entries.entries()) {
    if (slice.due()) await slice.pause();
    plan.push({
      line: e.line,
      type: e.type,
      modelType: e.modelType,
      url: redactUrl(e.url),
      filename: e.filename,
      path: e.path ?? null,
      present: present[i]!,
    });
  }
  const invalid = history.invalid.map((r) => ({ line: r.line, url: redactUrl(r.row.url), code: r.error.code, message: r.error.message }));
  io.stdout.write(`${JSON.stringify({ history: ctx.historyPath, entries: plan, invalid }, null, 2)}\n`);
  return EXIT_OK;
}
