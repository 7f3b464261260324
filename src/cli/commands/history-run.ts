import { EXIT_OK } from '../../errors.js';
import { redactUrl } from '../../http/credentials.js';
import { planDownloads, type PlanEntry } from '../../history/plan.js';
import { readHistory, type InvalidRow } from '../../history/read-history.js';
import { pathsPresent } from '../../util/presence.js';
import { TimeSlice } from '../../util/time-slice.js';
import type { CliIo } from '../io.js';
import { loadRunContext } from '../run-context.js';
import { writePlanLines } from '../plan-lines.js';
import type { HistoryFlags } from './history.js';

export async function runHistory(flags: HistoryFlags, io: CliIo): Promise<number> {
  const ctx = await loadRunContext(flags, io);
  const { entries, invalid: invalidRows } = await readPlan(ctx.historyPath, ctx.dirFor, io.signal);
  if (!flags.json) {
    await writePlanLines(entries, false, (lines) => io.stdout.write(`${lines.join('\n')}\n`), io.signal);
    for (const row of invalidRows) io.stderr.write(`dlr: ${ctx.historyPath} ${row.error.message}\n`);
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
  const invalid = invalidRows.map((r) => ({ line: r.line, url: redactUrl(r.row.url), code: r.error.code, message: r.error.message }));
  io.stdout.write(`${JSON.stringify({ history: ctx.historyPath, entries: plan, invalid }, null, 2)}\n`);
  return EXIT_OK;
}

/** Read and planned in a function of its own, so the rows can be collected once the plan holds what it needs. */
async function readPlan(path: string, dirFor: (type: string) => string, signal: AbortSignal): Promise<{ entries: PlanEntry[]; invalid: readonly InvalidRow[] }> {
  const history = await readHistory(path, { signal });
  return { entries: await planDownloads(history.rows, dirFor, { signal }), invalid: history.invalid };
}
