import { fdatasync, writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { toDlrError } from '../errors.js';
import { SEGMENTED_SIDECAR_VERSION, type PartFile, type Sidecar } from './part-file.js';
import { addRange, coveredBytes, type ByteRange } from './ranges.js';

/**
 * One connection's writes into the shared part, at its own offsets. Chunks
 * are gathered into one batch and written with a synchronous positional
 * write(2), for the reasons PartWriter gives (src/engine/part-file.ts).
 * `recordedTo..flushedTo` is what the OS has accepted but the sidecar does
 * not yet claim.
 */
export class RangeWriter {
  readonly #fd: number;
  readonly #path: string;
  /** The batch buffer, handed back to the part for the next writer once this one is retired. */
  readonly batch: Buffer;
  #used = 0;
  /** Bytes before this are claimed by the sidecar (durable). */
  recordedTo: number;
  /** Bytes before this have been handed to the OS. */
  flushedTo: number;

  constructor(fd: number, path: string, start: number, batch: Buffer) {
    this.#fd = fd;
    this.#path = path;
    this.batch = batch;
    this.recordedTo = start;
    this.flushedTo = start;
  }

  /** Takes a chunk that continues right after the bytes given before. */
  write(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#used === 0 && chunk.length - offset >= this.batch.length) {
        this.#writeAt(chunk.subarray(offset, offset + this.batch.length));
        offset += this.batch.length;
        continue;
      }
      const copied = chunk.copy(this.batch, this.#used, offset);
      this.#used += copied;
      offset += copied;
      if (this.#used === this.batch.length) this.flush();
    }
  }

  flush(): void {
    if (this.#used === 0) return;
    const bytes = this.#used;
    this.#used = 0;
    this.#writeAt(this.batch.subarray(0, bytes));
  }

  #writeAt(buffer: Buffer): void {
    let offset = 0;
    try {
      while (offset < buffer.length) {
        const accepted = writeSync(this.#fd, buffer, offset, buffer.length - offset, this.flushedTo);
        offset += accepted;
        this.flushedTo += accepted;
      }
    } catch (error) {
      throw toDlrError(error, { path: this.#path });
    }
  }
}

export interface SegmentedPartOptions {
  readonly batchBytes: number;
  /** Start a checkpoint once this many written bytes are not yet claimed by the sidecar. */
  readonly checkpointBytes: number;
}

/**
 * The part of a segmented download and its version-2 sidecar. The sidecar's
 * `done` ranges only ever name bytes that are on disk: a checkpoint first
 * notes what the writers have handed to the OS, then fdatasyncs the part,
 * and only then writes the sidecar (atomically, by rename) with those ranges
 * added. A kill or a power cut at any moment leaves a sidecar that claims
 * less than the part holds, never more; what it does not claim is fetched
 * again, at most one checkpoint interval per connection.
 */
export class SegmentedPart {
  readonly part: PartFile;
  readonly #handle: FileHandle;
  readonly #base: Sidecar;
  readonly #options: SegmentedPartOptions;
  readonly #writers = new Set<RangeWriter>();
  readonly #spare: Buffer[] = [];
  #done: ByteRange[];
  #running: Promise<void> | undefined;
  #error: unknown;
  /** Called after each checkpoint with the new durable ranges. */
  onDurable: ((done: readonly ByteRange[]) => void) | undefined;

  constructor(part: PartFile, handle: FileHandle, base: Sidecar, done: readonly ByteRange[], options: SegmentedPartOptions) {
    this.part = part;
    this.#handle = handle;
    this.#base = base;
    this.#done = [...done];
    this.#options = options;
  }

  get done(): readonly ByteRange[] {
    return this.#done;
  }

  /** A writer for bytes from `start` on. Keep it until its bytes are recorded: retire() it when done. */
  writer(start: number): RangeWriter {
    const batch = this.#spare.pop() ?? Buffer.allocUnsafeSlow(this.#options.batchBytes);
    const writer = new RangeWriter(this.#handle.fd, this.part.partPath, start, batch);
    this.#writers.add(writer);
    return writer;
  }

  /** Written but not yet durable bytes, across writers. */
  unrecorded(): number {
    let n = 0;
    for (const w of this.#writers) n += w.flushedTo - w.recordedTo;
    return n;
  }

  /** Starts a checkpoint in the background when enough is unrecorded (or `force`), one at a time. */
  maybeCheckpoint(force = false): void {
    if (this.#running !== undefined) return;
    const pending = this.unrecorded();
    if (pending === 0 || (!force && pending < this.#options.checkpointBytes)) return;
    this.#running = this.#checkpoint()
      .catch((error: unknown) => {
        this.#error ??= error;
      })
      .finally(() => {
        this.#running = undefined;
      });
  }

  /** Writes out every batch, waits for the running checkpoint, and records everything in a last one. */
  async finish(): Promise<void> {
    let flushError: unknown;
    for (const w of this.#writers) {
      try {
        w.flush();
      } catch (error) {
        flushError ??= error;
      }
    }
    await this.#running;
    if (this.unrecorded() > 0 && this.#error === undefined) {
      try {
        await this.#checkpoint();
      } catch (error) {
        this.#error ??= error;
      }
    }
    const error = flushError ?? this.#error;
    if (error !== undefined) throw toDlrError(error, { path: this.part.partPath });
  }

  /** Writes the sidecar for the ranges known now (used once before the first byte). */
  async writeSidecar(): Promise<void> {
    await this.part.writeSidecar({ ...this.#base, version: SEGMENTED_SIDECAR_VERSION, done: this.#done });
  }

  readonly #retired = new WeakSet<RangeWriter>();

  /** A writer whose segment ended: its batch is written out, and it is dropped once its bytes are recorded. */
  retire(writer: RangeWriter): void {
    this.#retired.add(writer);
    writer.flush();
    if (writer.recordedTo === writer.flushedTo) this.#drop(writer);
  }

  #drop(writer: RangeWriter): void {
    if (this.#writers.delete(writer)) this.#spare.push(writer.batch);
  }

  async #checkpoint(): Promise<void> {
    const taken: Array<{ writer: RangeWriter; to: number }> = [];
    for (const w of this.#writers) if (w.flushedTo > w.recordedTo) taken.push({ writer: w, to: w.flushedTo });
    if (taken.length === 0) return;
    await new Promise<void>((resolve, reject) => fdatasync(this.#handle.fd, (error) => (error ? reject(error) : resolve())));
    let done = this.#done;
    for (const { writer, to } of taken) done = addRange(done, writer.recordedTo, to);
    await this.part.writeSidecar({ ...this.#base, version: SEGMENTED_SIDECAR_VERSION, done });
    this.#done = done;
    for (const { writer, to } of taken) {
      writer.recordedTo = to;
      if (this.#retired.has(writer) && writer.recordedTo === writer.flushedTo) this.#drop(writer);
    }
    this.onDurable?.(done);
  }

  /** Bytes the sidecar claims. */
  durableBytes(): number {
    return coveredBytes(this.#done);
  }
}
