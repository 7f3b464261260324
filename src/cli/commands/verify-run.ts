import { EXIT_FAILED, EXIT_OK } from '../../errors.js';
import { redactUrl } from '../../http/credentials.js';
import { hashCachePathFor, readHashCache, updateHashCache } from '../../history/hash-cache.js';
import { planDownloads } from '../../history/plan.js';
import { readHistory } from '../../history/read-history.js';
import { resolveSource } from '../../sources/resolve-source.js';
import type { ResolvedFile } from '../../sources/types.js';
import { verifyFiles, type VerifyState } from '../../verify/verify-files.js';
import type { CliIo } from '../io.js';
import { loadRunContext } from '../run-context.js';
import type { VerifyFlags } from './verify.js';

export async function runVerify(flags: VerifyFlags, io: CliIo): Promise<number> {
  const ctx = await loadRunContext(flags, io);
  const history = await readHistory(ctx.historyPath, { signal: io.signal });
  const entries = await planDownloads(history.rows, ctx.dirFor, { signal: io.signal });
  const cachePath = hashCachePathFor(ctx.historyPath);
  const cache = await readHashCache(cachePath);
  const client = flags.offline ? undefined : ctx.openClient();
  const learned: Array<{ url: string; file: ResolvedFile }> = [];
  try {
    const lookup = client
      ? async (entry: { url: string }) => {
          const file = await resolveSource(entry.url, { settings: ctx.sources, client, signal: io.signal });
          learned.push({ url: entry.url, file });
          return file.expect?.sha256;
        }
      : undefined;
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
