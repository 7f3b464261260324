import { finished, Readable } from 'node:stream';
import { DlrError } from '../errors.js';
import type { SocketHold } from './socket-hold.js';

/** Unread body bytes past which the socket is held (a few disk write batches). */
export const DEFAULT_BODY_HIGH_WATER_MARK = 1024 * 1024;

/**
 * A response body that never pauses undici's HTTP parser, yet keeps memory
 * bounded by backpressure.
 *
 * Why not undici's own body stream: it pauses the parser once 64 KiB sit
 * unread, and undici 7 (the last line for Node 20) crashes the process with
 * an assertion when a socket ends while its parser is paused
 * (nodejs/undici#5360). So every chunk the parser produces is taken, and once
 * `highWaterMark` bytes wait unread the *socket* is held instead (see
 * socket-hold.ts): undici stops reading it, the kernel's buffers fill, and
 * TCP slows the server. When the reader asks for more, the hold is released.
 * Nothing that arrived is ever dropped, and what waits in memory is at most
 * the high-water mark plus one socket read plus the socket's own buffer.
 */
export class ResponseBody extends Readable {
  readonly #abort: (reason: Error) => void;
  readonly #hold: SocketHold | undefined;
  readonly #pace: ((bytes: number) => number) | undefined;
  #complete = false;
  #pendingError: Error | undefined;
  /** Why the socket is held: the reader is behind, and/or a byte budget asks to wait. */
  #full = false;
  #pacing: NodeJS.Timeout | undefined;

  /**
   * `pace` is told each chunk's size and answers how long to wait before
   * reading more (a byte rate: --limit-rate, an origin's bytes_per_second);
   * the wait holds the socket like a full buffer does, so TCP slows the server.
   */
  constructor(
    abort: (reason: Error) => void,
    hold: SocketHold | undefined,
    highWaterMark = DEFAULT_BODY_HIGH_WATER_MARK,
    pace?: (bytes: number) => number,
  ) {
    super({ highWaterMark });
    this.#abort = abort;
    this.#hold = hold;
    this.#pace = pace;
    // The body may fail before its reader is attached (a close while the part
    // is prepared); readers see the error through `finished()` or iteration,
    // which both report a stream that already failed. Without this listener
    // that early error would be thrown as uncaught.
    this.on('error', () => undefined);
  }

  /** Called by the dispatch handler for each chunk; never refuses one. */
  deliver(chunk: Buffer): void {
    if (this.destroyed) return;
    if (!this.push(chunk)) {
      this.#full = true;
      this.#hold?.hold();
    }
    const wait = this.#pace?.(chunk.length) ?? 0;
    if (wait > 0 && this.#pacing === undefined) {
      this.#hold?.hold();
      this.#pacing = setTimeout(() => {
        this.#pacing = undefined;
        if (!this.#full) this.#hold?.release();
      }, wait);
    }
  }

  #stopPacing(): void {
    if (this.#pacing !== undefined) clearTimeout(this.#pacing);
    this.#pacing = undefined;
  }

  /**
   * Called by the dispatch handler when the connection fails. Bytes that
   * already arrived are still handed out first, so they reach the part and
   * the next attempt resumes after them; then the stream fails.
   */
  fail(error: Error): void {
    if (this.readableLength === 0) this.destroy(error);
    else this.#pendingError ??= error;
  }

  override read(size?: number): any {
    const chunk: unknown = super.read(size);
    const error = this.#pendingError;
    if (error !== undefined && this.readableLength === 0) {
      this.#pendingError = undefined;
      // After the reader has taken this last chunk.
      process.nextTick(() => this.destroy(error));
    }
    return chunk;
  }

  /** Called by the dispatch handler when the whole body has arrived. */
  complete(): void {
    this.#complete = true;
    // The socket goes back to the pool for the next request.
    this.#stopPacing();
    this.#hold?.release();
    this.push(null);
  }

  override _read(): void {
    // The reader wants more: let undici read the socket again (unless a byte budget still says wait).
    this.#full = false;
    if (this.#pacing === undefined) this.#hold?.release();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // A body dropped before it all arrived takes its request (and socket) with it.
    if (!this.#complete) this.#abort(error ?? new DlrError('network', 'response body discarded'));
    this.#stopPacing();
    this.#hold?.release();
    callback(error);
  }

  /**
   * Reads and drops up to `limit` more bytes so the keep-alive connection can
   * be reused; a longer body is destroyed instead. Never rejects.
   */
  dump(opts: { limit?: number } = {}): Promise<void> {
    const limit = opts.limit ?? 128 * 1024;
    if (this.destroyed || this.readableEnded) return Promise.resolve();
    return new Promise((resolve) => {
      let seen = this.readableLength;
      finished(this, () => resolve());
      if (seen > limit) {
        this.destroy();
        return;
      }
      this.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen > limit) this.destroy();
      });
    });
  }
}
