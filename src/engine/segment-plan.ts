import type { ByteRange } from './ranges.js';

/**
 * One connection's share of a segmented file: bytes `[next, end)` are still
 * to come. `end` may shrink while the connection runs, when another one
 * takes the second half of its range (work stealing).
 */
export interface Segment {
  /** The next byte this connection will deliver. */
  next: number;
  /** One past the last byte this connection is responsible for. */
  end: number;
}

/**
 * Who fetches which bytes of a segmented file. Unfetched ranges (the gaps a
 * resumed part still has) are handed out first, lowest offset first; once
 * they are all taken, a free connection takes the second half of the
 * largest remaining range, if both halves stay at least `minSplit` (aria2's
 * `-k`). Splitting late instead of up front means a connection that
 * finishes early keeps working, so the last seconds are not one slow
 * connection; and N connections started one after another on a fresh file
 * split it into N even shares.
 */
export class SegmentPlan {
  readonly #pool: ByteRange[];
  readonly #minSplit: number;
  readonly active = new Set<Segment>();

  constructor(gaps: readonly ByteRange[], minSplit: number) {
    this.#pool = [...gaps];
    this.#minSplit = minSplit;
  }

  /** Bytes not yet delivered: unassigned gaps plus what active segments still owe. */
  remaining(): number {
    let n = 0;
    for (const [s, e] of this.#pool) n += e - s;
    for (const seg of this.active) n += Math.max(0, seg.end - seg.next);
    return n;
  }

  /** The next job for a free connection, or undefined when nothing is worth a connection. */
  take(): Segment | undefined {
    const gap = this.#pool.shift();
    if (gap !== undefined) return this.#start(gap[0], gap[1]);
    let victim: Segment | undefined;
    for (const seg of this.active) {
      if (victim === undefined || seg.end - seg.next > victim.end - victim.next) victim = seg;
    }
    if (victim === undefined) return undefined;
    const left = victim.end - victim.next;
    if (left < 2 * this.#minSplit) return undefined;
    const mid = victim.next + Math.floor(left / 2);
    const stolen = this.#start(mid, victim.end);
    victim.end = mid;
    return stolen;
  }

  /** A connection is done with its segment (whole, or given up: then its rest goes back to the pool). */
  release(seg: Segment): void {
    this.active.delete(seg);
    if (seg.next < seg.end) {
      this.#pool.push([seg.next, seg.end]);
      this.#pool.sort((a, b) => a[0] - b[0]);
    }
  }

  #start(start: number, end: number): Segment {
    const seg = { next: start, end };
    this.active.add(seg);
    return seg;
  }
}
