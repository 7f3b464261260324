import { finished as watchFinished, pipeline as streamPipeline, type Readable, type Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { DlrError, toDlrError } from '../errors.js';
import type { ResolvedPolicy } from '../options.js';
import { formatBytes } from '../util/units.js';
import { PartWriter } from './part-file.js';
import { SpeedMonitor } from './speed-floor.js';
import { collectEvery } from '../util/young-gc.js';
import type { Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';

export interface TransferInput {
  readonly body: Readable;
  readonly handle: FileHandle;
  readonly partPath: string;
  /** Content-Encoding of the body, if it is not identity. */
  readonly encoding: string | undefined;
  /** Updated with every byte written, when the source published a hash. */
  readonly hash: Hash | undefined;
  /** The most this transfer may add to the part before it is refused as runaway (Infinity = no limit). */
  readonly maxBytes: number;
  readonly policy: ResolvedPolicy;
  readonly signal: AbortSignal | undefined;
  /** Called on every sample tick with bytes received so far in this transfer. */
  readonly onSample: (received: number, bytesPerSec: number) => void;
  /** Fleet mode: asked before each write batch (see WriteGuard.stillOwner). */
  readonly stillOwner?: () => boolean;
}

export interface TransferOutput {
  /** Bytes written to the part by this transfer. */
  readonly written: number;
  /** Body bytes delivered to the part (after decoding; the network bytes when there is no content coding). */
  readonly received: number;
}

/**
 * Streams one response body into the part file, watching the speed floor on
 * a timer (never per chunk). Each chunk is written as it arrives, so the
 * socket is read no faster than the disk takes the bytes. On any failure, whatever
 * already arrived is still flushed to the part before the error goes up, so
 * the next attempt resumes exactly where the network stopped.
 */
export async function transferBody(input: TransferInput): Promise<TransferOutput> {
  const { policy } = input;
  const monitor = new SpeedMonitor(policy.speedFloorBytesPerSec, policy.speedWindowMs);
  const floor = new AbortController();
  const runaway = new AbortController();
  let received = 0;
  const writer = new PartWriter(input.handle, input.partPath, {
    batchBytes: policy.writeBufferBytes,
    syncEveryBytes: policy.syncEveryBytes,
    ...(input.stillOwner ? { stillOwner: input.stillOwner } : {}),
  });
  const signal = AbortSignal.any([floor.signal, runaway.signal, ...(input.signal ? [input.signal] : [])]);
  const decoder = decoderFor(input.encoding);
  // The callback form returns the last stream and destroys it with the body's error.
  const source = decoder ? streamPipeline(input.body, decoder, () => undefined) : input.body;
  // Started only once nothing above can throw: a timer left running keeps the process alive.
  const timer = setInterval(() => {
    const sample = monitor.sample();
    input.onSample(received, sample.bytesPerSec);
    if (sample.belowFloor) floor.abort();
  }, policy.sampleIntervalMs);
  let failure: unknown;
  try {
    const hash = input.hash;
    const countForCollection = collectEvery(policy.collectEveryBytes);
    await pump(source, writer, signal, (chunk) => {
      received += chunk.length;
      countForCollection(chunk.length);
      if (received > input.maxBytes) runaway.abort();
      monitor.add(chunk.length);
      hash?.update(chunk);
    });
  } catch (error) {
    failure = error;
  } finally {
    clearInterval(timer);
  }
  try {
    // Whatever arrived is written out (and fsynced) even after a failure.
    await writer.finish();
  } catch (error) {
    // A disk error explains more than the aborted read it caused.
    failure = error;
  }
  input.onSample(received, 0);
  if (failure === undefined) return { written: writer.written, received };
  if (runaway.signal.aborted && !input.signal?.aborted) {
    throw new DlrError('invalid-response', `the body grew past ${formatBytes(input.maxBytes)}, more than the file can be; refused`);
  }
  if (floor.signal.aborted && !input.signal?.aborted) {
    throw new DlrError(
      'rate-limited',
      `throttled: below ${formatBytes(policy.speedFloorBytesPerSec)}/s for ${policy.speedWindowMs / 1000}s`,
    );
  }
  if (input.signal?.aborted) throw new DlrError('interrupted', 'interrupted', { cause: failure });
  throw toDlrError(failure, { path: input.partPath });
}

/**
 * Moves chunks from `source` into `writer`. The writer writes synchronously,
 * so a chunk is on its way to disk before the next is read: no buffering
 * between the two and no backpressure to manage. Event-driven rather than
 * `for await`: no promise per chunk on the hot path. Leaves the writer open
 * on failure so the caller can flush what arrived.
 */
function pump(source: Readable, writer: PartWriter, signal: AbortSignal, onChunk: (chunk: Buffer) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    // `finished` also reports a body that ended or failed before we got here
    // (undici may see a premature close while the part file is being
    // prepared); plain 'end'/'error' listeners would wait forever.
    const stopWatching = watchFinished(source, (error) => (error ? fail(error) : done()));
    const done = () => {
      if (settled) return;
      settled = true;
      cleanup();
      resolve();
    };
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      cleanup();
      source.destroy();
      reject(error);
    };
    const cleanup = () => {
      stopWatching();
      source.off('data', onData);
      signal.removeEventListener('abort', onAbort);
    };
    const onData = (chunk: Buffer) => {
      onChunk(chunk);
      try {
        writer.write(chunk);
      } catch (error) {
        fail(error);
      }
    };
    const onAbort = () => fail(signal.reason);
    // Destroying the body after a failure makes undici emit a late abort
    // error; it has nothing left to tell us.
    source.on('error', () => undefined);
    if (signal.aborted) return onAbort();
    source.on('data', onData);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function decoderFor(encoding: string | undefined): Transform | undefined {
  switch (encoding) {
    case undefined:
      return undefined;
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'deflate':
      return createInflate();
    case 'br':
      return createBrotliDecompress();
    default:
      throw new DlrError('invalid-response', `unsupported Content-Encoding: ${encoding}`);
  }
}

/** The body's content coding, lower-cased, or undefined for identity. Only single codings are supported. */
export function contentEncodingOf(value: string | undefined): string | undefined {
  const text = value?.trim().toLowerCase();
  if (!text || text === 'identity') return undefined;
  return text;
}
