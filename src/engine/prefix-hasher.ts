import { constants as fsc } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Hash } from 'node:crypto';
import { toDlrError } from '../errors.js';

const READ_BYTES = 1024 * 1024;

/**
 * SHA-256 of a segmented part, computed behind the writers: whenever the
 * durable run of bytes from 0 grows (the first connection advances, or its
 * range joins the next one), the new bytes are read back from the part,
 * still in the page cache, and hashed, while the download goes on. When
 * the last range joins, only what was not yet read is left to hash.
 *
 * Why not hash each connection's bytes as they arrive: SHA-256 cannot be
 * computed in pieces out of order, so only the connection at the front
 * could, and everything after it would still be read back at the end.
 * Why not read the whole file once at the end: measured for 1 GiB (README,
 * "Segmented downloads"), that read-back comes after the last byte and adds
 * its whole time to the download; behind the writers it overlaps with it.
 */
export class PrefixHasher {
  readonly #path: string;
  readonly #hash: Hash;
  #hashedTo: number;
  #target: number;
  #running: Promise<void> | undefined;
  #error: unknown;
  #buffer: Buffer | undefined;

  constructor(path: string, hash: Hash, hashedTo: number) {
    this.#path = path;
    this.#hash = hash;
    this.#hashedTo = hashedTo;
    this.#target = hashedTo;
  }

  /** The bytes before `to` are durable in the part: hash up to there in the background. */
  advance(to: number): void {
    if (to > this.#target) this.#target = to;
    this.#kick();
  }

  /** Waits until `total` bytes are hashed and returns the hex digest. */
  async digest(total: number): Promise<string> {
    this.advance(total);
    while (this.#running !== undefined) await this.#running;
    if (this.#error === undefined && this.#hashedTo !== total) this.#error = new Error(`hashed ${this.#hashedTo} of ${total} bytes`);
    if (this.#error !== undefined) throw toDlrError(this.#error, { path: this.#path });
    return this.#hash.digest('hex');
  }

  #kick(): void {
    if (this.#running !== undefined || this.#error !== undefined || this.#hashedTo >= this.#target) return;
    this.#running = this.#catchUp().finally(() => {
      this.#running = undefined;
      // A target raised after the loop's last check.
      this.#kick();
    });
  }

  async #catchUp(): Promise<void> {
    let handle: FileHandle | undefined;
    try {
      handle = await open(this.#path, fsc.O_RDONLY | fsc.O_NOFOLLOW);
      this.#buffer ??= Buffer.allocUnsafeSlow(READ_BYTES);
      while (this.#hashedTo < this.#target) {
        const want = Math.min(READ_BYTES, this.#target - this.#hashedTo);
        const { bytesRead } = await handle.read(this.#buffer, 0, want, this.#hashedTo);
        if (bytesRead === 0) throw new Error(`the part ended at byte ${this.#hashedTo}`);
        this.#hash.update(this.#buffer.subarray(0, bytesRead));
        this.#hashedTo += bytesRead;
      }
    } catch (error) {
      this.#error ??= error;
    } finally {
      await handle?.close().catch(() => undefined);
    }
  }
}
