import { EXIT_OK } from '../../errors.js';
import { redactUrl } from '../../http/credentials.js';
import { planDownloads } from '../../history/plan.js';
import { readHistory } from '../../history/read-history.js';
import { pathExists } from '../../util/fs.js';
import type { CliIo } from '../io.js';
import { loadRunContext } from '../run-context.js';
import { planLines } from '../plan-lines.js';
import type { HistoryFlags } from './history.js';

export async function runHistory(flags: HistoryFlags, io: CliIo): Promise<number> {
  const ctx = await loadRunContext(flags, io);
  const history = await readHistory(ctx.historyPath);
  const entries = planDownloads(history.rows, ctx.dirFor);
  if (!flags.json) {
    for (const line of await planLines(entries, false)) io.stdout.write(`${line}\n`);
    for (const row of history.invalid) io.stderr.write(`dlr: ${ctx.historyPath} ${row.error.message}\n`);
    return EXIT_OK;
  }
  const plan = [];
  for (const e of entries) {
    plan.push({
      line: e.line,
      type: e.type,
      modelType: e.modelType,
      url: redactUrl(e.url),
      filename: e.filename,
      path: e.path ?? null,
      present: e.path !== undefined && (await pathExists(e.path)),
    });
  }
  const invalid = history.invalid.map((r) => ({ line: r.line, url: redactUrl(r.row.url), code: r.error.code, message: r.error.message }));
  io.stdout.write(`${JSON.stringify({ history: ctx.historyPath, entries: plan, invalid }, null, 2)}\n`);
  return EXIT_OK;
}
