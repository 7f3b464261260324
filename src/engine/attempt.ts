import type { HttpClient } from '../http/client.js';
import { pathExists } from '../util/fs.js';
import { createHash, type Hash } from 'node:crypto';
import { join } from 'node:path';
import { DlrError, toDlrError } from '../errors.js';
import { constants as fsc } from 'node:fs';
import { open } from 'node:fs/promises';
import { filenameFromContentDisposition } from '../http/content-disposition.js';
import { readBodyText } from '../http/read-body.js';
import { type HttpResponse } from '../http/request.js';
import { errorForStatus, header, messageFromErrorBody } from '../http/status-error.js';
import { USER_AGENT } from '../version.js';
import { findPartFor, leaseLapsed, PartFile, SIDECAR_VERSION, type Sidecar } from './part-file.js';
import { classifyResponse, ifRangeValue, type PartState } from './resume.js';
import { nameFromUrl, safeFileName } from './safe-name.js';
import { contentEncodingOf, transferBody } from './transfer.js';
import { hashMismatch, hashPrefix, sameSha256 } from './hashing.js';
import type { DownloadEvent, DownloadRequest, ExpectedFile, WriteGuard } from './types.js';
import type { RetryBudget } from '../policy/with-retries.js';
import { prefixEnd } from './ranges.js';
import { trySegmented } from './segmented.js';

/** Mutable facts about one file that persist across its attempts. */
export interface FileState {
  readonly url: URL;
  readonly sidecarUrl: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly dir: string;
  readonly overwrite: boolean;
  /** Known up front (given by the caller) or learned from the first response. */
  finalPath: string | undefined;
  bytesFetched: number;
  /** The most bytes the part has held: answers that never raise it are not progress. */
  partHighWater: number;
  readonly expect: ExpectedFile | undefined;
  readonly inspect: DownloadRequest['inspect'];
  /** Set once the server showed it cannot serve this file in segments: later attempts use one connection. */
  singleStream?: boolean;
}

export interface AttemptContext {
  /** The run's network client: policy, dispatcher, origin limiter. */
  readonly client: HttpClient;
  readonly signal: AbortSignal | undefined;
  readonly emit: (event: DownloadEvent) => void;
  readonly attempt: number;
  /** The file's retry budget: a segment that fails waits and retries on its own while the others go on. */
  readonly budget?: RetryBudget;
  /** Fleet mode: the lease on the file, checked before each write batch and before the rename. */
  readonly guard?: WriteGuard | undefined;
}

export type AttemptOutcome =
  | { readonly kind: 'done'; readonly size: number; readonly verified: boolean }
  | { readonly kind: 'skipped' }
  /** Ask again at once, without waiting: the answer could not be used but nothing failed. */
  | { readonly kind: 'again'; readonly reason: string };

/** Error bodies are read only this far, for their message. */
const ERROR_BODY_LIMIT = 16 * 1024;

/** One HTTP request for the file and, if the answer is usable, its body into the part. */
export async function runAttempt(file: FileState, ctx: AttemptContext): Promise<AttemptOutcome> {
  if (file.finalPath === undefined) file.finalPath = await findPartFor(file.dir, file.sidecarUrl);
  const part = file.finalPath === undefined ? undefined : new PartFile(file.finalPath);
  // Segments write outside the fleet's per-batch lease check, so a fleet member fetches over one connection.
  const segmented = ctx.client.policy.connections > 1 && file.singleStream !== true && ctx.guard === undefined;
  const state = part ? await usablePartState(part, file, segmented) : { offset: 0, sidecar: undefined };
  // A newer lease holder recorded itself in the sidecar: this process was overtaken.
  if (part && ctx.guard && (state.sidecar?.fence ?? 0) > ctx.guard.fence) throw leaseLapsed(part.finalPath);

  const headers: Record<string, string> = {
    'user-agent': USER_AGENT,
    // A model file is already compressed; a coded body would also break ranges.
    'accept-encoding': 'identity',
    ...file.headers,
  };
  if (state.offset > 0 || segmented) {
    // Segmented: even a fresh file is asked for as `bytes=0-`, so the answer tells whether ranges are served.
    headers.range = `bytes=${state.offset}-`;
    const validator = state.sidecar ? ifRangeValue(state.sidecar) : undefined;
    if (validator !== undefined) headers['if-range'] = validator;
  }
  // Hashed before asking, not after: once the answer is in, its body must be
  // read at once (see ResponseBody), and hashing a large part takes seconds.
  const prefixHash = part && state.offset > 0 && file.expect?.sha256 !== undefined ? await hashPrefix(part.partPath, state.offset) : undefined;
  ctx.emit({ type: 'request', attempt: ctx.attempt, url: file.url.href, offset: state.offset });
  const res = await ctx.client.send({ url: file.url, headers, signal: ctx.signal });
  try {
    return await handleResponse(res, part, { ...state, prefixHash }, file, ctx, segmented);
  } finally {
    // An answer we did not stream (skip, refetch, 416, error) is drained a
    // little so the keep-alive connection survives, then dropped.
    if (!res.body.destroyed && !res.body.readableEnded) await res.body.dump({ limit: 128 * 1024 }).catch(() => undefined);
  }
}

async function handleResponse(
  res: HttpResponse,
  knownPart: PartFile | undefined,
  stateIn: PartState & { readonly prefixHash: Hash | undefined },
  file: FileState,
  ctx: AttemptContext,
  segmented = false,
): Promise<AttemptOutcome> {
  let state = stateIn;
  const rangeSent = state.offset > 0 || segmented;
  const seen = { status: res.status, headers: res.headers, url: res.url, requestedUrl: file.url };
  if ((res.status < 200 || res.status >= 300) && !(res.status === 416 && rangeSent)) {
    const body = await readErrorBody(res);
    throw (
      file.inspect?.({ ...seen, body }) ??
      errorForStatus(res.status, res.headers, messageFromErrorBody(body, header(res.headers, 'content-type')))
    );
  }
  const veto = file.inspect?.(seen);
  if (veto) throw veto;
  if (res.status === 204 || res.status === 205) {
    // "No content" is not a file, not even an empty one (a 0-byte file comes as a 200):
    // saving it would make every later run skip the "model" for good.
    throw new DlrError('invalid-response', `HTTP ${res.status}: the server sent no content`);
  }

  let part = knownPart;
  if (part === undefined) {
    // The name comes from this first answer (no part for this URL was found
    // before asking); a part under that name may still be ours to resume.
    const name = safeFileName(filenameFromContentDisposition(header(res.headers, 'content-disposition')) ?? nameFromUrl(file.url));
    file.finalPath = join(file.dir, name);
    if (!file.overwrite && (await pathExists(file.finalPath))) return { kind: 'skipped' };
    part = new PartFile(file.finalPath);
    const found = await usablePartState(part, file);
    if (found.offset > 0) return { kind: 'again', reason: 'resuming the existing part' };
  }
  const finalPath = part.finalPath;

  if (segmented && res.status === 206) {
    const taken = await trySegmented({ res, part, state, prefixHash: state.prefixHash, file, ctx });
    if (taken !== undefined) return taken;
  }
  if (state.sidecar?.done !== undefined) {
    // A part written in segments goes on as one stream from the end of its first run of bytes.
    state = { ...state, sidecar: await toPrefixPart(part, state.sidecar) };
  }

  const decision = classifyResponse(state, res.status, res.headers);
  if (decision.action !== 'refetch') checkExpectedSize(file.expect, decision.total);
  const sha256 = file.expect?.sha256;
  if (decision.action === 'complete') {
    if (sha256 !== undefined) await verifyOrDiscard(part, (await hashPrefix(part.partPath, decision.total)).digest('hex'), sha256);
    await checkGuard(part, ctx.guard);
    await part.commit();
    return { kind: 'done', size: decision.total, verified: sha256 !== undefined };
  }
  if (decision.action === 'refetch') {
    await part.discard();
    ctx.emit({ type: 'restart', path: finalPath, reason: decision.reason });
    return { kind: 'again', reason: decision.reason };
  }

  const encoding = contentEncodingOf(header(res.headers, 'content-encoding'));
  const append = decision.action === 'append' && state.offset > 0;
  if (append && encoding !== undefined) {
    await part.discard();
    return { kind: 'again', reason: 'a content-coded range cannot be appended' };
  }
  if (!append) {
    if (state.offset > 0) ctx.emit({ type: 'restart', path: finalPath, reason: 'the server sent the whole file' });
    await part.discard();
    // A coded body cannot be resumed by byte offset, so it gets no sidecar: a leftover part without one is discarded.
    if (encoding === undefined) await part.writeSidecar(sidecarFor(file, decision, ctx.guard));
  } else if ((state.sidecar?.total === undefined && decision.total !== undefined) || (ctx.guard !== undefined && state.sidecar?.fence !== ctx.guard.fence)) {
    // Also when a fleet member takes over a part: the sidecar records the new holder's token.
    await part.writeSidecar(sidecarFor(file, { ...decision, total: decision.total ?? state.sidecar?.total, validator: state.sidecar ?? decision.validator }, ctx.guard));
  }

  const total = decision.total;
  ctx.emit({ type: 'transfer', path: finalPath, offset: append ? state.offset : 0, total });
  const startOffset = append ? state.offset : 0;
  const hash = sha256 === undefined ? undefined : append && state.prefixHash ? state.prefixHash : createHash('sha256');
  const handle = await part.open(append ? 'append' : 'create');
  let received = 0;
  let written: number;
  try {
    const out = await transferBody({
      body: res.body,
      handle,
      partPath: part.partPath,
      encoding,
      hash,
      maxBytes: maxBodyBytes(file.expect, ctx.client.policy.maxFileBytes) - startOffset,
      policy: ctx.client.policy,
      signal: ctx.signal,
      ...(ctx.guard ? { stillOwner: () => ctx.guard!.stillOwner() } : {}),
      onSample: (bytes, bytesPerSec) => {
        received = bytes;
        ctx.emit({ type: 'progress', path: finalPath, bytes: startOffset + bytes, total, bytesPerSec });
      },
    });
    written = out.written;
  } catch (error) {
    // A runaway or undecodable body left bytes that belong to no file.
    if (error instanceof DlrError && error.code === 'invalid-response') await part.discard();
    throw error;
  } finally {
    file.bytesFetched += received;
    await handle.close().catch(() => undefined);
  }

  const size = startOffset + written;
  file.partHighWater = Math.max(file.partHighWater, size);
  if (decision.action === 'append' && total !== undefined && size === decision.end && size < total) {
    // Some servers cap the length of a range; this answer was whole, so ask for the rest at once.
    return { kind: 'again', reason: `the server sent bytes up to ${size} of ${total}` };
  }
  if (decision.action === 'append' && total === undefined && size === decision.end) {
    // `bytes a-b/*` and no total known from before: the file may go on past b.
    // Asking from b+1 tells: more bytes, or a 416 that says the part is whole.
    return { kind: 'again', reason: `the server sent bytes up to ${size} of a file of unknown size` };
  }
  if (total !== undefined && size < total) {
    throw new DlrError('network', `connection closed early: got ${size} of ${total} bytes`);
  }
  if (total !== undefined && size > total) {
    await part.discard();
    throw new DlrError('invalid-response', `the server sent ${size} bytes for a ${total}-byte file`);
  }
  checkExpectedSize(file.expect, size);
  if (hash !== undefined && sha256 !== undefined) await verifyOrDiscard(part, hash.digest('hex'), sha256);
  await checkGuard(part, ctx.guard);
  await part.commit();
  return { kind: 'done', size, verified: sha256 !== undefined };
}

/** The most a file may grow to: the published size (with its tolerance), else the policy's cap. */
function maxBodyBytes(expect: ExpectedFile | undefined, policyMax: number): number {
  if (expect?.size !== undefined) return expect.size + (expect.sizeTolerance ?? 0);
  return policyMax > 0 ? policyMax : Number.POSITIVE_INFINITY;
}

/** An answer whose length is far from what the source published is not the file (an error page, another version). */
export function checkExpectedSize(expect: ExpectedFile | undefined, size: number | undefined): void {
  if (expect?.size === undefined || size === undefined) return;
  if (Math.abs(size - expect.size) <= (expect.sizeTolerance ?? 0)) return;
  throw new DlrError('invalid-response', `the server offers ${size} bytes, but the source says the file has ${expect.size}`);
}

export async function verifyOrDiscard(part: PartFile, actual: string, expected: string): Promise<void> {
  if (sameSha256(actual, expected)) return;
  await part.discard();
  throw hashMismatch(part.finalPath, actual, expected);
}

/**
 * The part's state if it may be resumed for this URL; otherwise it is
 * discarded and the state is empty. A part written in segments (sidecar
 * version 2) keeps its ranges when this attempt may use segments too; its
 * offset is then the end of its first run of bytes, where the first request
 * asks from. Otherwise it is cut back to that run (see toPrefixPart).
 */
async function usablePartState(part: PartFile, file: FileState, keepRanges = false): Promise<PartState> {
  const found = await part.inspect();
  if (found.offset === 0) return { offset: 0, sidecar: undefined };
  const sidecar = found.sidecar;
  // A part with no sidecar, or one written for another URL, is of unknown origin.
  if (sidecar === undefined || sidecar.url !== file.sidecarUrl) {
    await part.discard();
    return { offset: 0, sidecar: undefined };
  }
  if (sidecar.done === undefined) return { offset: found.offset, sidecar };
  const offset = prefixEnd(sidecar.done);
  return { offset, sidecar: keepRanges ? sidecar : await toPrefixPart(part, sidecar) };
}

/**
 * Turns a segmented part into a single-stream one: its first run of bytes
 * from 0, the rest dropped. Each step leaves a part its sidecar describes
 * truthfully: first the sidecar stops claiming the later ranges, then the
 * part is cut, then the sidecar becomes version 1 (whose claim is the
 * part's length).
 */
async function toPrefixPart(part: PartFile, sidecar: Sidecar): Promise<Sidecar> {
  const end = prefixEnd(sidecar.done ?? []);
  await part.writeSidecar({ ...sidecar, done: end > 0 ? [[0, end]] : [] });
  try {
    // O_NOFOLLOW: a link planted at the part path is never cut through.
    const handle = await open(part.partPath, fsc.O_WRONLY | fsc.O_NOFOLLOW);
    try {
      await handle.truncate(end);
    } finally {
      await handle.close().catch(() => undefined);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw toDlrError(error, { path: part.partPath });
  }
  const { done: _dropped, ...rest } = sidecar;
  const prefix: Sidecar = { ...rest, version: SIDECAR_VERSION };
  await part.writeSidecar(prefix);
  return prefix;
}

function sidecarFor(
  file: FileState,
  decision: { readonly total: number | undefined; readonly validator: { etag?: string; lastModified?: string } },
  guard?: WriteGuard,
): Sidecar {
  return {
    version: SIDECAR_VERSION,
    url: file.sidecarUrl,
    ...(decision.validator.etag !== undefined ? { etag: decision.validator.etag } : {}),
    ...(decision.validator.lastModified !== undefined ? { lastModified: decision.validator.lastModified } : {}),
    ...(decision.total !== undefined ? { total: decision.total } : {}),
    ...(guard !== undefined ? { fence: guard.fence } : {}),
  };
}

/**
 * Fleet mode, just before the rename: the sidecar must still record this
 * holder's token (no newer holder wrote to the part) and the coordinator
 * must confirm the lease; otherwise the part is left to its owner.
 */
async function checkGuard(part: PartFile, guard: WriteGuard | undefined): Promise<void> {
  if (guard === undefined) return;
  const fence = (await part.readSidecar())?.fence ?? 0;
  if (fence > guard.fence || !guard.stillOwner()) throw leaseLapsed(part.finalPath);
  await guard.beforeCommit();
}

/** The start of an error body, for its message; the rest is left to the connection cleanup. */
export async function readErrorBody(res: HttpResponse): Promise<string> {
  try {
    return (await readBodyText(res.body, ERROR_BODY_LIMIT)).text;
  } catch {
    // The status alone says enough.
    return '';
  }
}
