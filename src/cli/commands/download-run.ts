import { fetchOne } from '../../app/fetch-one.js';
import { basename, resolve } from 'node:path';
import { isDirectory } from '../../util/fs.js';
import { acquireRunLock, releaseOnExit, type RunLock } from '../../batch/run-lock.js';
import { appendHistory } from '../../history/append-history.js';
import { hashCachePathFor, updateHashCache } from '../../history/hash-cache.js';
import { stripUrlCredentials } from '../../http/credentials.js';
import { EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError } from '../../errors.js';
import { parseHttpUrl } from '../../http/parse-url.js';
import { checkModelTypeFlag } from '../model-type-flag.js';
import { parseHeader } from '../parse-flags.js';
import { loadRunContext } from '../run-context.js';
import { chooseReporter } from '../reporter/choose.js';
import type { CliIo } from '../io.js';
import type { DownloadFlags } from './download.js';

/**
 * Without --type this is a curl-like fetch into --dir (default: here) or -o.
 * With --type the file goes to that type's folder from the config and, once
 * complete, is appended to the history CSV, so `redownload all` keeps it.
 */
export async function runDownload(url: string, flags: DownloadFlags, io: CliIo): Promise<number> {
  parseHttpUrl(url);
  const ctx = await loadRunContext(flags, io);
  const givenType = flags.type === undefined ? undefined : checkModelTypeFlag(flags.type, Object.keys(ctx.config.downloadPaths));
  if (flags.output !== undefined && (flags.dir !== undefined || flags.filename !== undefined)) {
    throw new UsageError('use either --output, or --dir/--filename, not both');
  }
  if (flags.output !== undefined && flags.output.trim() === '') throw new UsageError('--output needs a file path');
  if (flags.output !== undefined && (await isDirectory(resolve(flags.output)))) {
    throw new UsageError(`--output ${flags.output} is a directory; use --dir to save into a folder`);
  }
  const headers = Object.fromEntries((flags.header ?? []).map(parseHeader));
  const reporter = await chooseReporter(io.stderr, io.env, flags.quiet ?? false, io.notices);
  const client = ctx.openClient({ onOriginEvent: (event) => reporter.origin(event) });
  let lock: RunLock | undefined;
  try {
    reporter.begin(url);
    let intoTypeFolder = false;
    let type: string | undefined;
    const { result, resolved } = await fetchOne(url, {
      client,
      sources: ctx.sources,
      overwrite: flags.force ?? false,
      headers,
      signal: io.signal,
      onEvent: (e) => reporter.event(e),
      destination: (file) => {
        // A model type (given, or known to the site) means a model: its folder, and the history.
        type = givenType ?? file.type;
        const name = flags.filename ?? file.filename;
        // The history has no path column: `redownload` finds a row's file in its
        // type's folder. A file put elsewhere (-o, --dir) is a plain fetch, kept
        // out of the history, or the next redownload would fetch it again there.
        intoTypeFolder = type !== undefined && flags.output === undefined && flags.dir === undefined;
        return flags.output !== undefined
          ? { file: flags.output }
          : { dir: flags.dir ?? (type !== undefined ? ctx.dirFor(type) : '.'), ...(name ? { name } : {}) };
      },
      // The same folders a nightly redownload writes: take the same lock, before the transfer.
      beforeDownload: async (dest) => {
        if (!intoTypeFolder) return;
        lock = await acquireRunLock(['dir' in dest ? dest.dir : '.']);
        releaseOnExit(lock);
      },
    });
    reporter.end(result);
    if (result.status === 'failed') {
      if (result.error.code === 'usage') throw new UsageError(result.error.message);
      return result.error.code === 'interrupted' ? EXIT_INTERRUPTED : EXIT_FAILED;
    }
    if (result.path !== undefined) io.stdout.write(`${result.path}\n`);
    if (result.status === 'done' && intoTypeFolder && result.path !== undefined && resolved !== undefined) {
      await appendHistory(ctx.historyPath, { timestamp: new Date(), modelType: flags.type ?? type!, url: stripUrlCredentials(url), filename: basename(result.path) });
      await updateHashCache(hashCachePathFor(ctx.historyPath), [{ url, file: resolved, path: result.path }]);
      reporter.info(`added to the history: ${ctx.historyPath}`);
    }
    return EXIT_OK;
  } finally {
    reporter.close();
    await client.close();
    await lock?.release();
  }
}
