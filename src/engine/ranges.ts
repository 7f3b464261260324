/**
 * Byte ranges of a segmented part, half-open `[start, end)`. A list of
 * ranges is kept sorted, disjoint and with touching ranges merged, so its
 * length is the number of holes plus one at most: a handful for a file
 * fetched over N connections, whatever its size.
 */
export type ByteRange = readonly [start: number, end: number];

/** Adds `[start, end)` to a normalized list, merging what it touches; returns a new list. */
export function addRange(ranges: readonly ByteRange[], start: number, end: number): ByteRange[] {
  if (end <= start) return [...ranges];
  const out: ByteRange[] = [];
  let a = start;
  let b = end;
  let placed = false;
  for (const [s, e] of ranges) {
    if (e < a) out.push([s, e]);
    else if (s > b) {
      if (!placed) {
        out.push([a, b]);
        placed = true;
      }
      out.push([s, e]);
    } else {
      a = Math.min(a, s);
      b = Math.max(b, e);
    }
  }
  if (!placed) out.push([a, b]);
  return out;
}

/** The parts of `[0, total)` no range covers, in order. */
export function gapsOf(ranges: readonly ByteRange[], total: number): ByteRange[] {
  const out: ByteRange[] = [];
  let at = 0;
  for (const [s, e] of ranges) {
    if (s > at) out.push([at, Math.min(s, total)]);
    at = Math.max(at, e);
    if (at >= total) break;
  }
  if (at < total) out.push([at, total]);
  return out.filter(([s, e]) => e > s);
}

/** Bytes the ranges cover. */
export function coveredBytes(ranges: readonly ByteRange[]): number {
  let n = 0;
  for (const [s, e] of ranges) n += e - s;
  return n;
}

/** Where the contiguous run of bytes from 0 ends (0 when byte 0 is not covered). */
export function prefixEnd(ranges: readonly ByteRange[]): number {
  const first = ranges[0];
  return first !== undefined && first[0] === 0 ? first[1] : 0;
}

/** At most this many ranges are accepted from a sidecar: a normal one has a few dozen. */
export const MAX_SIDECAR_RANGES = 4096;

/**
 * Ranges read from a sidecar (untrusted: the disk may hold anything), or
 * undefined unless they are a well-formed, sorted, disjoint list inside
 * `[0, total]`.
 */
export function parseRanges(value: unknown, total: number): ByteRange[] | undefined {
  if (!Array.isArray(value) || value.length > MAX_SIDECAR_RANGES) return undefined;
  const out: ByteRange[] = [];
  let last = -1;
  for (const item of value) {
    if (!Array.isArray(item) || item.length !== 2) return undefined;
    const [s, e] = item as unknown[];
    if (!Number.isSafeInteger(s) || !Number.isSafeInteger(e)) return undefined;
    const start = s as number;
    const end = e as number;
    if (start < 0 || end <= start || end > total || start <= last) return undefined;
    out.push([start, end]);
    last = end;
  }
  return out;
}
