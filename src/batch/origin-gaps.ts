import { sleep } from '../util/sleep.js';

/**
 * The seed's `sleep_between_downloads`, kept per origin: after a transfer
 * from a site ends well, the next file from that site starts no sooner than
 * the gap. Files from other sites do not wait, and with one job this is the
 * seed's plain pause between downloads (none after the last).
 */
export class OriginGaps {
  readonly #gapMs: number;
  readonly #next = new Map<string, number>();

  constructor(gapMs: number) {
    this.#gapMs = gapMs;
  }

  /** Waits until the origin's gap has passed; `onWait` is told how long, when there is a wait. */
  async before(origin: string, signal: AbortSignal | undefined, onWait: (ms: number) => void): Promise<void> {
    let told = false;
    // Looked at again after each wait: another transfer from the site may have ended meanwhile.
    for (;;) {
      const at = this.#next.get(origin);
      const wait = at === undefined ? 0 : at - performance.now();
      if (wait <= 0) return;
      if (!told) onWait(wait);
      told = true;
      await sleep(wait, signal);
    }
  }

  after(origin: string): void {
    if (this.#gapMs > 0) this.#next.set(origin, performance.now() + this.#gapMs);
  }
}
