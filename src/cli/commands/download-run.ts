import { resolve } from 'node:path';
import { downloadOne } from '../../app/download.js';
import { isDirectory } from '../../util/fs.js';
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
  try {
    reporter.begin(url);
    const { result, addedTo } = await downloadOne(
      ctx,
      {
        url,
        ...(givenType !== undefined ? { type: givenType, typeAsGiven: flags.type ?? givenType } : {}),
        ...(flags.output !== undefined ? { output: flags.output } : {}),
        ...(flags.dir !== undefined ? { dir: flags.dir } : {}),
        ...(flags.filename !== undefined ? { filename: flags.filename } : {}),
        headers,
        force: flags.force ?? false,
        signal: io.signal,
      },
      (event) => ('origin' in event ? reporter.origin(event) : reporter.event(event)),
    );
    reporter.end(result);
    if (result.status === 'failed') {
      if (result.error.code === 'usage') throw new UsageError(result.error.message);
      return result.error.code === 'interrupted' ? EXIT_INTERRUPTED : EXIT_FAILED;
    }
    if (result.path !== undefined) io.stdout.write(`${result.path}\n`);
    if (addedTo !== undefined) reporter.info(`added to the history: ${addedTo}`);
    return EXIT_OK;
  } finally {
    reporter.close();
  }
}
