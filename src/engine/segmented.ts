import { setMaxListeners } from 'node:events';
import { createHash, type Hash } from 'node:crypto';
import { finished as watchFinished } from 'node:stream';
import { DlrError, toDlrError } from '../errors.js';
import { parseContentRange } from '../http/content-range.js';
import type { HttpResponse } from '../http/request.js';
import { errorForStatus, header, messageFromErrorBody } from '../http/status-error.js';
import { sleep } from '../util/sleep.js';
import { formatBytes } from '../util/units.js';
import { collectEvery } from '../util/young-gc.js';
import { USER_AGENT } from '../version.js';
import { checkExpectedSize, readErrorBody, verifyOrDiscard, type AttemptContext, type AttemptOutcome, type FileState } from './attempt.js';
import { SEGMENTED_SIDECAR_VERSION, type PartFile, type Sidecar } from './part-file.js';
import { PrefixHasher } from './prefix-hasher.js';
import { coveredBytes, gapsOf, prefixEnd, type ByteRange } from './ranges.js';
import type { PartState, Validator } from './resume.js';
import { validatorFrom } from './resume.js';
import { SegmentPlan, type Segment } from './segment-plan.js';
import { SegmentedPart, type RangeWriter } from './segmented-part.js';
import { SpeedMonitor } from './speed-floor.js';
import { contentEncodingOf } from './transfer.js';

/**
 * A checkpoint (fdatasync + sidecar) starts once this many write batches
 * per connection (2 MiB with the default 64 KiB batch) are written and not
 * yet claimed, and at least every CHECKPOINT_SAMPLES progress samples (1 s by
 * default): so a kill costs at most about that much per connection fetched
 * twice (measured in the README, "Segmented downloads").
 */
const CHECKPOINT_BATCHES_PER_CONNECTION = 32;
const CHECKPOINT_SAMPLES = 4;
/** A segment whose fresh link is refused again and again is really forbidden. */
const MAX_FORBIDDEN_IN_A_ROW = 3;

/** The ranges a part already holds for segmenting: version 2's `done`, or a version-1 prefix. */
export function doneRangesOf(state: PartState): ByteRange[] {
  if (state.sidecar?.done !== undefined) return [...state.sidecar.done];
  return state.offset > 0 ? [[0, state.offset]] : [];
}

/** Strong validator of an answer (RFC 9110 §8.8.1): a strong ETag, else Last-Modified when there is no ETag. */
function strongValidator(v: Validator): Validator | undefined {
  if (v.etag !== undefined) return v.etag.trimStart().startsWith('W/') ? undefined : { etag: v.etag };
  return v.lastModified !== undefined ? { lastModified: v.lastModified } : undefined;
}

function sameVersion(known: Validator, now: Validator): boolean {
  if (known.etag !== undefined) return now.etag === known.etag;
  return now.etag === undefined && known.lastModified !== undefined && now.lastModified === known.lastModified;
}

/** Why segments stopped short of the whole file, other than an error. */
class SegmentsStop extends Error {
  constructor(
    readonly kind: 'changed' | 'single',
    message: string,
  ) {
    super(message);
  }
}

export interface SegmentedStart {
  readonly res: HttpResponse;
  readonly part: PartFile;
  readonly state: PartState;
  readonly prefixHash: Hash | undefined;
  readonly file: FileState;
  readonly ctx: AttemptContext;
}

/**
 * Takes over the first answer of an attempt when the file can be fetched
 * over several connections: a 206 for the bytes asked, with a strong
 * validator (If-Range on the other segments must be able to refuse another
 * version) and a total that matches what the part was started with; and
 * enough left to split, or a part already written in pieces. Anything else
 * returns undefined and the attempt goes on as a single stream.
 */
export async function trySegmented(start: SegmentedStart): Promise<AttemptOutcome | undefined> {
  const { res, state, file, ctx } = start;
  const policy = ctx.client.policy;
  if (res.status !== 206 || contentEncodingOf(header(res.headers, 'content-encoding')) !== undefined) return undefined;
  const range = parseContentRange(header(res.headers, 'content-range'));
  if (range?.kind !== 'range' || range.total === undefined || range.start !== state.offset) return undefined;
  const total = range.total;
  const validator = strongValidator(validatorFrom(res.headers));
  if (validator === undefined) return undefined;
  const done = doneRangesOf(state);
  if (done.length > 0) {
    const known = state.sidecar;
    if (known === undefined || known.total !== total || !sameVersion(known, validator)) return undefined;
  }
  const gaps = gapsOf(done, total);
  const remaining = gaps.reduce((n, [s, e]) => n + e - s, 0);
  const inPieces = state.sidecar?.done !== undefined && prefixEnd(done) !== coveredBytes(done);
  if (remaining < 2 * policy.minSplitSizeBytes && !inPieces) return undefined;
  checkExpectedSize(file.expect, total);
  if (policy.maxFileBytes > 0 && total > policy.maxFileBytes) {
    throw new DlrError('invalid-response', `the file has ${formatBytes(total)}, more than --max-size allows; refused`);
  }
  return runSegments({ ...start, total, validator, done });
}

interface Run extends SegmentedStart {
  readonly total: number;
  readonly validator: Validator;
  readonly done: ByteRange[];
}

async function runSegments(run: Run): Promise<AttemptOutcome> {
  const { part, file, ctx, total, validator } = run;
  const policy = ctx.client.policy;
  const connections = policy.connections;
  const base: Sidecar = {
    version: SEGMENTED_SIDECAR_VERSION,
    url: file.sidecarUrl,
    ...validator,
    total,
  };
  // The invariant of PartFile: an old part goes before a new sidecar, and the sidecar comes before the first byte.
  if (run.done.length === 0) await part.discard();
  const handle = await part.open('positional');
  let sp: SegmentedPart;
  try {
    if (run.state.sidecar?.done === undefined && run.done.length > 0) {
      // A version-1 prefix is claimed as a durable range only once it is on disk.
      await handle.datasync();
    }
    sp = new SegmentedPart(part, handle, base, run.done, {
      batchBytes: policy.writeBufferBytes,
      checkpointBytes: CHECKPOINT_BATCHES_PER_CONNECTION * policy.writeBufferBytes * connections,
    });
    await sp.writeSidecar();
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw toDlrError(error, { path: part.partPath });
  }
  try {
    return await transferSegments(run, sp);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

async function transferSegments(run: Run, sp: SegmentedPart): Promise<AttemptOutcome> {
  const { part, file, ctx, total, validator } = run;
  const policy = ctx.client.policy;
  const finalPath = part.finalPath;
  const sha256 = file.expect?.sha256;
  const startBytes = coveredBytes(run.done);
  const hasher =
    sha256 === undefined
      ? undefined
      : run.prefixHash !== undefined && run.state.offset > 0
        ? new PrefixHasher(part.partPath, run.prefixHash, run.state.offset)
        : new PrefixHasher(part.partPath, createHash('sha256'), 0);
  sp.onDurable = (done) => hasher?.advance(prefixEnd(done));
  hasher?.advance(prefixEnd(run.done));

  const plan = new SegmentPlan(gapsOf(run.done, total), policy.minSplitSizeBytes);
  const stop = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([stop.signal, ctx.signal]) : stop.signal;
  // Up to 16 segments and their waits listen here: more than Node's default of 10 (a leak warning on stderr).
  setMaxListeners(1_000, signal);
  let failure: unknown;
  const fail = (error: unknown) => {
    failure ??= error;
    stop.abort(error);
  };
  const monitor = new SpeedMonitor(policy.speedFloorBytesPerSec, policy.speedWindowMs);
  const countForCollection = collectEvery(policy.collectEveryBytes);
  let received = 0;
  const onBytes = (n: number) => {
    received += n;
    monitor.add(n);
    countForCollection(n);
  };

  ctx.emit({ type: 'transfer', path: finalPath, offset: startBytes, total });
  let lastCheckpoint = performance.now();
  const timer = setInterval(() => {
    const sample = monitor.sample();
    ctx.emit({ type: 'progress', path: finalPath, bytes: startBytes + received, total, bytesPerSec: sample.bytesPerSec });
    if (sample.belowFloor) {
      fail(new DlrError('rate-limited', `throttled: below ${formatBytes(policy.speedFloorBytesPerSec)}/s for ${policy.speedWindowMs / 1000}s`));
    }
    if (performance.now() - lastCheckpoint >= CHECKPOINT_SAMPLES * policy.sampleIntervalMs) {
      lastCheckpoint = performance.now();
      sp.maybeCheckpoint(true);
    }
  }, policy.sampleIntervalMs);

  const worker = async (first: Segment, firstRes: HttpResponse | undefined) => {
    let seg: Segment | undefined = first;
    let res = firstRes;
    while (seg !== undefined && !signal.aborted) {
      await fetchSegment(seg, res, { run, sp, signal, onBytes });
      res = undefined;
      plan.release(seg);
      seg = signal.aborted ? undefined : plan.take();
    }
    if (seg !== undefined) plan.release(seg);
  };
  const segmentWorker = (first: Segment, firstRes: HttpResponse | undefined) =>
    worker(first, firstRes).catch((error: unknown) => fail(error));

  const firstSeg = plan.take();
  const workers: Promise<void>[] = [];
  if (firstSeg !== undefined) workers.push(segmentWorker(firstSeg, run.res));
  for (let i = 1; i < policy.connections; i++) {
    const seg = plan.take();
    if (seg === undefined) break;
    workers.push(segmentWorker(seg, undefined));
  }
  await Promise.all(workers);
  clearInterval(timer);
  try {
    await sp.finish();
  } catch (error) {
    failure = error;
  }
  file.bytesFetched += received;
  const have = sp.durableBytes();
  file.partHighWater = Math.max(file.partHighWater, have);
  ctx.emit({ type: 'progress', path: finalPath, bytes: startBytes + received, total, bytesPerSec: 0 });

  if (failure instanceof SegmentsStop) {
    if (failure.kind === 'changed') {
      await part.discard();
      ctx.emit({ type: 'restart', path: finalPath, reason: failure.message });
    } else {
      // What is on disk stays; the next attempt continues its first run of bytes over one connection.
      file.singleStream = true;
    }
    return { kind: 'again', reason: failure.message };
  }
  if (ctx.signal?.aborted) throw new DlrError('interrupted', 'interrupted');
  if (failure !== undefined) throw toDlrError(failure, { path: part.partPath });
  if (have !== total) throw new DlrError('network', `segments ended with ${have} of ${total} bytes on disk`);
  if (hasher !== undefined && sha256 !== undefined) await verifyOrDiscard(part, await hasher.digest(total), sha256);
  await part.commit();
  return { kind: 'done', size: total, verified: sha256 !== undefined };

  async function fetchSegment(
    seg: Segment,
    given: HttpResponse | undefined,
    io: { run: Run; sp: SegmentedPart; signal: AbortSignal; onBytes: (n: number) => void },
  ): Promise<void> {
    let res = given;
    let forbidden = 0;
    while (seg.next < seg.end && !io.signal.aborted) {
      const before = seg.next;
      try {
        res ??= await requestRange(seg, io.signal);
        const answerEnd = checkAnswer(res, seg);
        if (answerEnd === 'forbidden') {
          const body = await readErrorBody(res);
          const error =
            file.inspect?.({ status: res.status, headers: res.headers, url: res.url, requestedUrl: file.url, body }) ??
            errorForStatus(res.status, res.headers, messageFromErrorBody(body, header(res.headers, 'content-type')));
          // A signed link that expired mid-file: the original URL gives a fresh one at once.
          if (++forbidden < MAX_FORBIDDEN_IN_A_ROW) {
            res = undefined;
            continue;
          }
          throw error;
        }
        await streamRange(res, seg, answerEnd, io);
        res = undefined;
        if (seg.next > before) forbidden = 0;
      } catch (caught) {
        if (res !== undefined && !res.body.destroyed) res.body.destroy();
        res = undefined;
        if (io.signal.aborted) return;
        if (caught instanceof SegmentsStop) throw caught;
        const error = toDlrError(caught);
        if (seg.next > before) forbidden = 0;
        const budget = ctx.budget;
        if (budget === undefined) throw error;
        const decision = budget.decide(error, io.signal);
        if (!decision.retry) throw decision.error;
        // The other segments go on meanwhile.
        await sleep(decision.delayMs, io.signal).catch(() => undefined);
      }
    }
  }

  function requestRange(seg: Segment, signal: AbortSignal): Promise<HttpResponse> {
    const headers: Record<string, string> = {
      'user-agent': USER_AGENT,
      'accept-encoding': 'identity',
      ...file.headers,
      range: `bytes=${seg.next}-${seg.end - 1}`,
      'if-range': (validator.etag ?? validator.lastModified) as string,
    };
    ctx.emit({ type: 'request', attempt: ctx.attempt, url: file.url.href, offset: seg.next });
    // From the original URL every time: its redirect hands out a fresh signed link.
    return ctx.client.send({ url: file.url, headers, signal });
  }

  /** One past the last byte the answer carries, or 'forbidden'; throws for anything that cannot be used. */
  function checkAnswer(res: HttpResponse, seg: Segment): number | 'forbidden' {
    if (res.status === 403) return 'forbidden';
    if (res.status < 200 || res.status >= 300) {
      // Read by the caller's cleanup; the status says what went wrong.
      throw errorForStatus(res.status, res.headers, undefined);
    }
    const now = validatorFrom(res.headers);
    if (res.status !== 206) {
      if (!sameVersion(validator, now)) throw new SegmentsStop('changed', 'the file changed on the server while it was fetched in segments');
      throw new SegmentsStop('single', 'the server answered a range with the whole file; going on over one connection');
    }
    const range = parseContentRange(header(res.headers, 'content-range'));
    if (!sameVersion(validator, now) || (range?.kind === 'range' && range.total !== undefined && range.total !== total)) {
      throw new SegmentsStop('changed', 'the file changed on the server while it was fetched in segments');
    }
    if (range?.kind !== 'range' || range.start !== seg.next || contentEncodingOf(header(res.headers, 'content-encoding')) !== undefined) {
      throw new SegmentsStop('single', 'the server answered a range with other bytes; going on over one connection');
    }
    return range.end + 1;
  }
}

/**
 * Writes a 206 body into the part from `seg.next`, until the body ends or
 * the segment does (another connection may have taken its second half);
 * then drops the rest of the body. A body that ends before the bytes its
 * Content-Range promised is a broken connection.
 */
function streamRange(
  res: HttpResponse,
  seg: Segment,
  answerEnd: number,
  io: { sp: SegmentedPart; signal: AbortSignal; onBytes: (n: number) => void },
): Promise<void> {
  const body = res.body;
  const writer: RangeWriter = io.sp.writer(seg.next);
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const stopWatching = watchFinished(body, (error) => {
      if (error) return settle(error);
      if (seg.next < Math.min(seg.end, answerEnd)) {
        return settle(new DlrError('network', `connection closed early: got bytes up to ${seg.next} of ${answerEnd}`));
      }
      settle(undefined);
    });
    const settle = (error: unknown) => {
      if (settled) return;
      settled = true;
      stopWatching();
      body.off('data', onData);
      io.signal.removeEventListener('abort', onAbort);
      let failure = error;
      try {
        io.sp.retire(writer);
      } catch (writeError) {
        failure = writeError;
      }
      if (!body.destroyed) body.destroy();
      if (failure === undefined) resolve();
      else reject(failure);
    };
    const onData = (chunk: Buffer) => {
      const room = seg.end - seg.next;
      const piece = chunk.length > room ? chunk.subarray(0, Math.max(0, room)) : chunk;
      if (piece.length > 0) {
        try {
          writer.write(piece);
        } catch (error) {
          return settle(error);
        }
        seg.next += piece.length;
        io.onBytes(piece.length);
        io.sp.maybeCheckpoint();
      }
      if (seg.next >= seg.end) settle(undefined);
    };
    const onAbort = () => settle(io.signal.reason ?? new DlrError('interrupted', 'interrupted'));
    body.on('error', () => undefined);
    if (io.signal.aborted) return onAbort();
    body.on('data', onData);
    io.signal.addEventListener('abort', onAbort, { once: true });
  });
}
