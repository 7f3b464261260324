import { finished, Readable } from 'node:stream';
import { DlrError } from '../errors.js';
import { formatBytes } from '../util/units.js';

/**
 * A response body that never pushes back on undici's HTTP parser.
 *
 * Why: undici 7.30 (the newest 7.x, the last line that runs on Node 20)
 * asserts and crashes the process when a socket ends while its parser is
 * paused (nodejs/undici#5360). Its own body stream pauses the parser as soon
 * as 64 KiB sit unread, which is exactly what happens while dlr opens the
 * part file after the headers: a 64-128 KiB answer with `Connection: close`,
 * or a server closing mid-body at that moment, killed dlr with a stack trace.
 * So chunks are always taken; what the reader has not taken yet is bounded by
 * `maxBufferedBytes`, past which the request is aborted as a (retryable)
 * network failure instead of growing without limit. The readers in dlr take
 * chunks as they come (the part writer writes synchronously), so the buffer
 * only fills while a part is being prepared.
 */
export class ResponseBody extends Readable {
  readonly #abort: (reason: Error) => void;
  readonly #maxBufferedBytes: number;
  #complete = false;
  #pendingError: Error | undefined;

  constructor(abort: (reason: Error) => void, maxBufferedBytes: number) {
    super();
    this.#abort = abort;
    this.#maxBufferedBytes = maxBufferedBytes;
    // The body may fail before its reader is attached (a close while the part
    // is prepared); readers see the error through `finished()` or iteration,
    // which both report a stream that already failed. Without this listener
    // that early error would be thrown as uncaught.
    this.on('error', () => undefined);
  }

  /** Called by the dispatch handler for each chunk; never refuses one. */
  deliver(chunk: Buffer): void {
    if (this.destroyed) return;
    this.push(chunk);
    if (this.readableLength > this.#maxBufferedBytes) {
      this.destroy(
        new DlrError('network', `the response arrived faster than it was read (over ${formatBytes(this.#maxBufferedBytes)} waiting); dropped`),
      );
    }
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
    this.push(null);
  }

  override _read(): void {
    // Nothing to ask for: chunks are pushed as the parser produces them.
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // A body dropped before it all arrived takes its request (and socket) with it.
    if (!this.#complete) this.#abort(error ?? new DlrError('network', 'response body discarded'));
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
