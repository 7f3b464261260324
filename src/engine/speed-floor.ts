/**
 * Detects throttling: the average speed over the last `windowMs` below
 * `floorBytesPerSec`. A sliding window, not an average since the start of the
 * file, so a throttle late in a 6 GB checkpoint is seen within one window.
 * The clock is injected so the logic is testable without waiting.
 */
export interface SpeedSample {
  /** Bytes per second over the window so far (or since start if shorter). */
  readonly bytesPerSec: number;
  /** True once a full window has passed below the floor. */
  readonly belowFloor: boolean;
}

export class SpeedMonitor {
  readonly #floor: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #startedAt: number;
  /** (time, cumulative bytes) checkpoints, oldest first, spanning at least the window. */
  readonly #marks: Array<{ t: number; bytes: number }> = [];
  #bytes = 0;

  constructor(floorBytesPerSec: number, windowMs: number, now: () => number = () => performance.now()) {
    this.#floor = floorBytesPerSec;
    this.#windowMs = windowMs;
    this.#now = now;
    this.#startedAt = now();
    this.#marks.push({ t: this.#startedAt, bytes: 0 });
  }

  /** Hot path: called per chunk, so it only adds. */
  add(bytes: number): void {
    this.#bytes += bytes;
  }

  /** Called on a timer; records a checkpoint and judges the last window. */
  sample(): SpeedSample {
    const t = this.#now();
    this.#marks.push({ t, bytes: this.#bytes });
    const horizon = t - this.#windowMs;
    // Keep the newest mark at or before the horizon as the window's start.
    while (this.#marks.length > 2 && (this.#marks[1]?.t ?? Infinity) <= horizon) this.#marks.shift();
    const first = this.#marks[0] ?? { t, bytes: this.#bytes };
    const span = t - first.t;
    const bytesPerSec = span > 0 ? ((this.#bytes - first.bytes) * 1000) / span : 0;
    const fullWindow = t - this.#startedAt >= this.#windowMs;
    return { bytesPerSec, belowFloor: this.#floor > 0 && fullWindow && bytesPerSec < this.#floor };
  }
}
