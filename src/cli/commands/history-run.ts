import { EXIT_OK } from '../../errors.js';
import { redactUrl } from '../../http/credentials.js';
import { planDownloads, type PlanEntry } from '../../history/plan.js';
import { readHistory, type InvalidRow } from '../../history/read-history.js';
import { formatBytes } from '../../util/units.js';
import { TimeSlice } from '../../util/time-slice.js';
import { entrySizes } from '../history-sizes.js';
import type { CliIo } from '../io.js';
import { loadRunContext } from '../run-context.js';
import type { HistoryFlags } from './history.js';

/** The columns of `dlr history`, tab-separated as its lines. */
export const HISTORY_HEADER = '#\ttype\tstate\tsize\tpath\turl';

/** Lines per write: one write per line was a system call per row of a 100k-row history. */
const LINES_PER_BLOCK = 1000;

export async function runHistory(flags: HistoryFlags, io: CliIo): Promise<number> {
  const ctx = await loadRunContext(flags, io);
  const { entries, invalid: invalidRows } = await readPlan(ctx.historyPath, ctx.dirFor, io.signal);
  const { present, size } = await entrySizes(entries, ctx.historyPath, io.signal, flags.sizes ?? false);
  const missingOnly = flags.missing ?? false;
  const slice = new TimeSlice(io.signal);
  if (!flags.json) {
    // The number is the entry's place in the plan, with or without --missing, as `redownload --dry-run` counts.
    let block = [HISTORY_HEADER];
    for (const [i, e] of entries.entries()) {
      if (slice.due()) await slice.pause();
      if (missingOnly && present[i]) continue;
      const bytes = size[i];
      block.push(`${i + 1}\t${e.type}\t${present[i] ? 'present' : 'fetch'}\t${bytes === undefined ? '-' : formatBytes(bytes)}\t${e.path ?? `${e.dir}/(name from server)`}\t${redactUrl(e.url)}`);
      if (block.length === LINES_PER_BLOCK) {
        io.stdout.write(`${block.join('\n')}\n`);
        block = [];
      }
    }
    if (block.length > 0) io.stdout.write(`${block.join('\n')}\n`);
    for (const row of invalidRows) io.stderr.write(`dlr: ${ctx.historyPath} ${row.error.message}\n`);
    return EXIT_OK;
  }
  const plan = [];
  for (const [i, e] of entries.entries()) {
    if (slice.due()) await slice.pause();
    if (missingOnly && present[i]) continue;
    plan.push({
      line: e.line,
      type: e.type,
      modelType: e.modelType,
      url: redactUrl(e.url),
      filename: e.filename,
      path: e.path ?? null,
      present: present[i]!,
      size: size[i] ?? null,
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
