import { isDirectory, pathExists } from '../util/fs.js';
import { dirname, resolve } from 'node:path';
import { DlrError, toDlrError } from '../errors.js';
import { redactUrl, splitUserinfo } from '../http/credentials.js';
import { parseHttpUrl } from '../http/parse-url.js';
import { RetryBudget } from '../policy/with-retries.js';
import { sleep } from '../util/sleep.js';
import { runAttempt, type FileState } from './attempt.js';
import { safeFileName } from './safe-name.js';
import type { DownloadContext, DownloadEvent, DownloadRequest, DownloadResult } from './types.js';

/**
 * Answers that could not be used but cost no wait (a 206 from the wrong
 * offset, a 416 for another size) are asked again at once; this many in a
 * row without a byte of progress means the server is broken.
 */
const MAX_IMMEDIATE_REPEATS = 3;

/**
 * Moves one file from a URL to disk: `<final>.part` + sidecar, resume with
 * Range/If-Range, retries per the policy, atomic rename on completion.
 * Never throws for a failed transfer: the result says what happened, with a
 * stable error code.
 */
export async function download(request: DownloadRequest, context: DownloadContext): Promise<DownloadResult> {
  const started = performance.now();
  const emit = (event: DownloadEvent) => context.onEvent?.(event);
  const policy = context.client.policy;
  let attempts = 0;
  // Retries are reported by the budget, whoever made it (the batch's also reports its lookups).
  const budget = context.budget ?? new RetryBudget(policy, (info) => emit({ type: 'retry', ...info }));
  let file: FileState | undefined;
  const result = <T extends object>(extra: T) => ({
    url: redactUrl(request.url),
    path: file?.finalPath,
    attempts,
    retries: budget.spent,
    bytesFetched: file?.bytesFetched ?? 0,
    durationMs: performance.now() - started,
    ...extra,
  });

  try {
    file = prepare(request);
    if (file.finalPath !== undefined && (await isDirectory(file.finalPath))) {
      // Not "already exists": nothing was saved, and no file could be.
      return failed(new DlrError('usage', `${file.finalPath} is a directory, not a file`));
    }
    if (file.finalPath !== undefined && !file.overwrite && (await pathExists(file.finalPath))) {
      return result({ status: 'skipped', reason: 'exists' } as const);
    }
    let repeats = 0;
    let highWaterBefore = 0;
    let hashRetried = false;
    for (;;) {
      attempts++;
      try {
        const outcome = await runAttempt(file, {
          client: context.client,
          signal: context.signal,
          emit,
          attempt: attempts,
          guard: context.guard,
          budget,
        });
        if (outcome.kind === 'done') return result({ status: 'done', size: outcome.size, verified: outcome.verified } as const);
        if (outcome.kind === 'skipped') return result({ status: 'skipped', reason: 'exists' } as const);
        // Progress is the part growing past where it ever was, not bytes
        // received: a server that sends the same start again and again
        // (then refuses the rest) receives bytes but gets nowhere.
        repeats = file.partHighWater > highWaterBefore ? 0 : repeats + 1;
        highWaterBefore = file.partHighWater;
        if (repeats > MAX_IMMEDIATE_REPEATS) {
          throw new DlrError('invalid-response', `the server keeps sending unusable answers: ${outcome.reason}`);
        }
      } catch (caught) {
        const error = context.signal?.aborted ? new DlrError('interrupted', 'interrupted') : toDlrError(caught);
        if (error.code === 'interrupted') return failed(error);
        if (error.code === 'hash-mismatch' && !hashRetried) {
          // The part is gone; one fresh download from zero tells a glitch from a wrong file.
          hashRetried = true;
          budget.spend(0, error);
          continue;
        }
        const decision = budget.decide(error, context.signal);
        if (!decision.retry) return failed(decision.error);
        await sleep(decision.delayMs, context.signal);
        highWaterBefore = file.partHighWater;
        repeats = 0;
      }
    }
  } catch (caught) {
    return failed(context.signal?.aborted ? new DlrError('interrupted', 'interrupted') : toDlrError(caught));
  }

  function failed(error: DlrError): DownloadResult {
    return result({ status: 'failed', error: { code: error.code, message: error.message } } as const);
  }
}

function prepare(request: DownloadRequest): FileState {
  const parsed = parseHttpUrl(request.url);
  const { url, authorization } = splitUserinfo(parsed);
  const headers = { ...(authorization ? { authorization } : {}), ...request.headers };
  const dest = request.dest;
  const common = {
    url,
    // The sidecar ties a part to its URL without writing secrets to disk.
    sidecarUrl: redactUrl(url),
    headers,
    overwrite: request.overwrite ?? false,
    bytesFetched: 0,
    partHighWater: 0,
    expect: request.expect,
    inspect: request.inspect,
  };
  if ('file' in dest) {
    if (dest.file.trim() === '') throw new DlrError('usage', 'the output file path is empty');
    const finalPath = resolve(dest.file);
    return { ...common, dir: dirname(finalPath), finalPath };
  }
  const dir = resolve(dest.dir);
  const finalPath = dest.name === undefined ? undefined : resolve(dir, safeFileName(dest.name));
  return { ...common, dir, finalPath };
}
