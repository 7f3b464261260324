import { resolve } from 'node:path';
import { downloadMany, downloadOne, type DownloadOneRequest } from '../../app/download.js';
import { streamToOutput } from '../../app/stream-out.js';
import { isDirectory } from '../../util/fs.js';
import { EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError } from '../../errors.js';
import { redactUrl } from '../../http/credentials.js';
import { parseHttpUrl } from '../../http/parse-url.js';
import { formatBytes } from '../../util/units.js';
import { checkModelTypeFlag } from '../model-type-flag.js';
import { parseHeader } from '../parse-flags.js';
import { loadRunContext, type RunContext } from '../run-context.js';
import { chooseReporter } from '../reporter/choose.js';
import { readUrlList } from '../url-list.js';
import type { CliIo } from '../io.js';
import type { DownloadFlags } from './download.js';
import { progressEnv } from './request-options.js';

/**
 * Without --type this is a curl-like fetch into --dir (default: here) or -o.
 * With --type the file goes to that type's folder from the config and, once
 * complete, is appended to the history CSV, so `redownload all` keeps it.
 * Several URLs (arguments, `-i FILE`) are fetched `-j` at a time through one
 * client, as wget -i and aria2c fetch a list.
 */
export async function runDownload(args: readonly string[], flags: DownloadFlags, io: CliIo): Promise<number> {
  const urls = [...args];
  for (const url of urls) parseHttpUrl(url);
  if (flags.inputFile !== undefined) urls.push(...(await readUrlList(flags.inputFile, process.stdin)));
  if (urls.length === 0) throw new UsageError(flags.inputFile !== undefined ? `no URLs in ${flags.inputFile}` : "missing required argument 'url' (see dlr download --help)");
  const several = urls.length > 1;
  if (several && flags.output !== undefined) throw new UsageError(`--output names one file; with ${urls.length} URLs use --dir`);
  if (several && flags.filename !== undefined) throw new UsageError(`--filename names one file; with ${urls.length} URLs use --dir`);
  const ctx = await loadRunContext(flags, io);
  const givenType = flags.type === undefined ? undefined : checkModelTypeFlag(flags.type, Object.keys(ctx.config.downloadPaths));
  if (flags.output !== undefined && (flags.dir !== undefined || flags.filename !== undefined)) {
    throw new UsageError('use either --output, or --dir/--filename, not both');
  }
  if (flags.output !== undefined && flags.output.trim() === '') throw new UsageError('--output needs a file path');
  const headers = Object.fromEntries((flags.header ?? []).map(parseHeader));
  if (flags.output === '-') {
    if (givenType !== undefined) throw new UsageError('--output - writes to stdout; it cannot go into a type folder (--type)');
    return toStdout(ctx, urls[0]!, headers, flags, io);
  }
  if (flags.output !== undefined && (await isDirectory(resolve(flags.output)))) {
    throw new UsageError(`--output ${flags.output} is a directory; use --dir to save into a folder`);
  }
  const requestFor = (url: string): DownloadOneRequest => ({
    url,
    ...(givenType !== undefined ? { type: givenType, typeAsGiven: flags.type ?? givenType } : {}),
    ...(flags.output !== undefined ? { output: flags.output } : {}),
    ...(flags.dir !== undefined ? { dir: flags.dir } : {}),
    ...(flags.filename !== undefined ? { filename: flags.filename } : {}),
    headers,
    force: flags.force ?? false,
    signal: io.signal,
  });
  const reporter = await chooseReporter(io.stderr, progressEnv(io.env, flags.progress), flags.quiet ?? false, io.notices);
  try {
    if (!several) {
      const url = urls[0]!;
      reporter.begin(url);
      const { result, addedTo } = await downloadOne(ctx, requestFor(url), (event) => ('origin' in event ? reporter.origin(event) : reporter.event(event)));
      reporter.end(result);
      if (result.status === 'failed') {
        if (result.error.code === 'usage') throw new UsageError(result.error.message);
        return result.error.code === 'interrupted' ? EXIT_INTERRUPTED : EXIT_FAILED;
      }
      if (result.path !== undefined) io.stdout.write(`${result.path}\n`);
      if (addedTo !== undefined) reporter.info(`added to the history: ${addedTo}`);
      return EXIT_OK;
    }
    const total = urls.length;
    const outcomes = await downloadMany(
      ctx,
      urls.map(requestFor),
      (i, event) => reporter.event(event, { index: i + 1, total }),
      (event) => reporter.origin(event),
      io.signal,
      (i) => reporter.begin(redactUrl(urls[i]!), { index: i + 1, total }),
      (i, { result, addedTo }) => {
        reporter.end(result, { index: i + 1, total });
        if (result.status !== 'failed' && result.path !== undefined) io.stdout.write(`${result.path}\n`);
        if (addedTo !== undefined) reporter.info(`added to the history: ${addedTo}`);
      },
    );
    const failed = outcomes.filter((o) => o?.result.status === 'failed').length;
    const notStarted = outcomes.filter((o) => o === undefined).length;
    const done = total - failed - notStarted;
    reporter.notice(`${done} of ${total} done${failed > 0 ? `, ${failed} failed` : ''}${notStarted > 0 ? `, ${notStarted} not started` : ''}`);
    if (io.signal.aborted || outcomes.some((o) => o?.result.status === 'failed' && o.result.error.code === 'interrupted')) return EXIT_INTERRUPTED;
    return failed > 0 ? EXIT_FAILED : EXIT_OK;
  } finally {
    reporter.close();
  }
}

/** `-o -`: the body on stdout for a pipe, as `curl URL | …`; the log stays on stderr. */
async function toStdout(ctx: RunContext, url: string, headers: Record<string, string>, flags: DownloadFlags, io: CliIo): Promise<number> {
  try {
    const { bytes, verified } = await streamToOutput(ctx, { url, headers, signal: io.signal }, io.stdout);
    if (!flags.quiet) io.stderr.write(`dlr: ${formatBytes(bytes)} to stdout${verified ? ', SHA-256 verified' : ''}\n`);
    return EXIT_OK;
  } catch (error) {
    const e = error as { code?: string; message?: string };
    if (e.code === 'usage') throw error;
    io.stderr.write(`dlr: ${redactUrl(url)}: ${e.message ?? String(error)}\n`);
    return e.code === 'interrupted' ? EXIT_INTERRUPTED : EXIT_FAILED;
  }
}
