import { EXIT_FAILED, EXIT_OK, UsageError } from '../../errors.js';
import { redactUrl } from '../../http/credentials.js';
import { hashCachePathFor, readHashCache, updateHashCache } from '../../history/hash-cache.js';
import { planDownloads } from '../../history/plan.js';
import { readHistory } from '../../history/read-history.js';
import type { ResolvedFile } from '../../sources/types.js';
import { sourceHashLookup } from '../../verify/source-lookup.js';
import { verifyFiles, type VerifyState } from '../../verify/verify-files.js';
import type { CliIo } from '../io.js';
import { loadRunContext } from '../run-context.js';
import type { VerifyFlags } from './verify.js';

export async function runVerify(flags: VerifyFlags, io: CliIo): Promise<number> {
  if (flags.repair) return repair(flags, io);
  const ctx = await loadRunContext(flags, io);
  const history = await readHistory(ctx.historyPath, { signal: io.signal });
  const entries = await planDownloads(history.rows, ctx.dirFor, { signal: io.signal });
  const cachePath = hashCachePathFor(ctx.historyPath);
  const cache = await readHashCache(cachePath);
  const client = flags.offline ? undefined : ctx.openClient();
  const learned: Array<{ url: string; file: ResolvedFile }> = [];
  try {
    const lookup = client ? sourceHashLookup(ctx.sources, client, io.signal, learned) : undefined;
    const results = await verifyFiles(entries, cache, lookup, (r) => {
      if (!flags.json) io.stdout.write(`${r.state}\t${r.entry.path ?? r.entry.dir}\t${r.detail}\n`);
    });
    await updateHashCache(cachePath, learned).catch(() => undefined);
    const counts: Record<VerifyState, number> = { ok: 0, corrupt: 0, missing: 0, unverifiable: 0 };
    for (const r of results) counts[r.state]++;
    if (flags.json) {
      const files = results.map((r) => ({ state: r.state, path: r.entry.path ?? null, url: redactUrl(r.entry.url), detail: r.detail }));
      io.stdout.write(`${JSON.stringify({ counts, files }, null, 2)}\n`);
    } else {
      io.stderr.write(`verify: ok ${counts.ok}, corrupt ${counts.corrupt}, missing ${counts.missing}, unverifiable ${counts.unverifiable}\n`);
    }
    return counts.corrupt + counts.missing > 0 ? EXIT_FAILED : EXIT_OK;
  } finally {
    await client?.close();
  }
}

/**
 * `verify --repair`: a redownload of the whole history narrowed to the files
 * verify finds missing or corrupt (one run: the folder lock, the scheduler,
 * the reports), with verify's own lines on stdout as the files are judged.
 */
async function repair(flags: VerifyFlags, io: CliIo): Promise<number> {
  if (flags.offline) throw new UsageError('--repair fetches files; it cannot be --offline');
  if (flags.json) throw new UsageError('--repair prints the run as redownload does; use redownload all --repair --json for JSON');
  const counts: Record<VerifyState, number> = { ok: 0, corrupt: 0, missing: 0, unverifiable: 0 };
  const { runRedownload } = await import('./redownload-run.js');
  const code = await runRedownload('all', { ...flags, repair: true, yes: true }, io, (r) => {
    counts[r.state]++;
    io.stdout.write(`${r.state}\t${r.entry.path ?? r.entry.dir}\t${r.detail}\n`);
  });
  io.stderr.write(`verify: ok ${counts.ok}, corrupt ${counts.corrupt}, missing ${counts.missing}, unverifiable ${counts.unverifiable}; ${counts.corrupt + counts.missing} to repair\n`);
  return code;
}
