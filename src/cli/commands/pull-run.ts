import { resolve } from 'node:path';
import { pull, type PullOutcome } from '../../app/pull.js';
import { acquireRunLock, releaseOnExit, type RunLock } from '../../batch/run-lock.js';
import { EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError } from '../../errors.js';
import { pathFilter } from '../../pull/glob.js';
import { DEFAULT_LOCK_FILE } from '../../pull/lock-file.js';
import { parsePullSpec } from '../../pull/spec.js';
import type { CliIo } from '../io.js';
import { chooseReporter } from '../reporter/choose.js';
import { joinFleet, type Fleet } from '../../fleet/fleet.js';
import { loadRunContext } from '../run-context.js';
import type { PullFlags } from './pull.js';

/**
 * `dlr pull SOURCE --dir DIR`: the files of one repository commit (or one
 * Civitai version) under DIR, verified, recorded in the lock; `--frozen`
 * installs exactly the lock. Paths print on stdout, one per line, as
 * `dlr download` prints the file it saved.
 */
export async function runPull(source: string, flags: PullFlags, io: CliIo): Promise<number> {
  const ctx = await loadRunContext(flags, io);
  const spec = parsePullSpec(source, ctx.sources.hfEndpoint);
  if (flags.dir === undefined || flags.dir.trim() === '') throw new UsageError('--dir needs a folder');
  if (flags.lock !== undefined && flags.lock.trim() === '') throw new UsageError('--lock needs a file path');
  const include = flags.include ?? [];
  const exclude = flags.exclude ?? [];
  // Bad patterns are usage errors before anything is read or asked.
  pathFilter(include, exclude);
  const dir = resolve(flags.dir);
  const lockPath = resolve(flags.lock ?? DEFAULT_LOCK_FILE);
  const reporter = await chooseReporter(io.stderr, io.env, flags.quiet ?? false, io.notices);
  let runLock: RunLock | undefined;
  let outcome: PullOutcome;
  // Seed 000's start-up storm: N containers pulling one model share one
  // request budget through the coordinator (its limiter only: each pulls
  // into its own folder). Joined only when a request is needed: a --frozen
  // pull whose files are all there never talks to Redis either.
  let fleet: Fleet | undefined;
  const openClient = async () => {
    if (ctx.fleet !== undefined) fleet ??= await joinFleet(ctx.fleet);
    return ctx.openClient({ onOriginEvent: (event) => reporter.origin(event), ...(fleet ? { fleet } : {}) });
  };
  try {
    outcome = await pull(
      { spec, dir, lockPath, include, exclude, frozen: flags.frozen ?? false },
      {
        sources: ctx.sources,
        openClient,
        jobs: ctx.jobs,
        signal: io.signal,
        // The folder a nightly redownload or another pull may write too: the same lock, before the first byte.
        beforeWrite: async () => {
          runLock = await acquireRunLock([dir]);
          releaseOnExit(runLock);
        },
        onBegin: (path, index, total) => reporter.begin(path, { index, total }),
        onEvent: (event, index, total) => reporter.event(event, { index, total }),
        onEnd: (result, index, total) => reporter.end(result, { index, total }),
      },
    );
  } finally {
    reporter.close();
    await runLock?.release();
    await fleet?.close();
  }
  const failed = outcome.files.filter((f) => f.status === 'failed');
  const fetched = outcome.files.filter((f) => f.status === 'fetched').length;
  const present = outcome.files.length - failed.length - fetched;
  const at = outcome.commit !== undefined ? `@${outcome.commit.slice(0, 12)}` : '';
  if (io.signal.aborted) return EXIT_INTERRUPTED;
  if (failed.length > 0) {
    // Each failure's own line came from the reporter; this one says what it means for the lock.
    const lockNote = flags.frozen ? 'the lock is unchanged' : 'the lock was not updated';
    io.stderr.write(`dlr: ${failed.length} of ${outcome.files.length} files of ${spec.source}${at} failed (${failed[0]!.error?.message ?? 'failed'}); ${lockNote}\n`);
    return EXIT_FAILED;
  }
  for (const file of outcome.files) io.stdout.write(`${file.target}\n`);
  const lockNote = outcome.lockWritten ? `lock written: ${lockPath}` : flags.frozen ? 'matches the lock' : '';
  const line = `${spec.source}${at}: ${outcome.files.length} files in ${dir} (${fetched} fetched, ${present} present)${lockNote ? `; ${lockNote}` : ''}`;
  if (!(flags.quiet ?? false)) io.stderr.write(`${line}\n`);
  return EXIT_OK;
}
