import { DlrError } from '../errors.js';

/**
 * A FIFO counting semaphore whose waits end at once on abort. Used for
 * connection slots per origin and for the batch's job slots.
 */
export class Semaphore {
  #free: number;
  readonly #waiters: Array<{ wake: () => void }> = [];

  /** `limit` 0 or less means no limit. */
  constructor(limit: number) {
    this.#free = limit > 0 ? limit : Number.POSITIVE_INFINITY;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  async acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw new DlrError('interrupted', 'interrupted');
    if (this.#free > 0 && this.#waiters.length === 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        wake: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(new DlrError('interrupted', 'interrupted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next) next.wake();
    else this.#free++;
  }
}
