import { parseContentRange } from '../http/content-range.js';
import { header, type HeaderMap } from '../http/status-error.js';
import type { Sidecar } from './part-file.js';

/** What we know of a part file before a request. */
export interface PartState {
  /** Bytes already on disk in `<final>.part`. */
  readonly offset: number;
  readonly sidecar: Sidecar | undefined;
}

export interface Validator {
  readonly etag?: string;
  readonly lastModified?: string;
}

/**
 * What to do with a 2xx/416 answer, decided before a single byte is written
 * (RFC 9110 §14 and §13.1.5):
 * - `append`: a 206 whose Content-Range starts exactly at our offset, for the same representation;
 * - `truncate`: a 200 (the server ignored Range, or If-Range saw a new version): start over from this body;
 * - `complete`: a 416 whose `*\/size` equals the part: the part is the whole file;
 * - `refetch`: the answer cannot be used (a 206 elsewhere, a 416 for another size, a
 *   206 for another version): discard the part and ask again without Range.
 */
export type ResumeAction =
  | {
      readonly action: 'append';
      readonly total: number | undefined;
      /** One past the last byte this response promises; less than `total` when the server serves a partial range. */
      readonly end: number;
      readonly validator: Validator;
    }
  | { readonly action: 'truncate'; readonly total: number | undefined; readonly validator: Validator }
  | { readonly action: 'complete'; readonly total: number }
  | { readonly action: 'refetch'; readonly reason: string };

/**
 * The validators of an answer, as sent. A weak ETag is kept too: it cannot
 * go in If-Range, but a different one still proves the file changed.
 */
export function validatorFrom(headers: HeaderMap): Validator {
  const etag = header(headers, 'etag');
  const lastModified = header(headers, 'last-modified');
  return {
    ...(etag !== undefined ? { etag } : {}),
    ...(lastModified !== undefined ? { lastModified } : {}),
  };
}

/**
 * The If-Range value (RFC 9110 §13.1.5): a strong ETag; a date only when
 * there is no ETag at all. With only a weak ETag nothing is sent, and the
 * 206 is checked against the sidecar instead (sameRepresentation).
 */
export function ifRangeValue(validator: Validator): string | undefined {
  if (validator.etag !== undefined) return isWeak(validator.etag) ? undefined : validator.etag;
  return validator.lastModified;
}

function isWeak(etag: string): boolean {
  return etag.trimStart().startsWith('W/');
}

/** RFC 9110 §8.8.3.2 weak comparison: the opaque tags match, W/ or not. */
function sameOpaqueTag(a: string, b: string): boolean {
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  return opaque(a) === opaque(b);
}

/** The total from a 200's Content-Length, unless the body is content-coded (then its length says nothing of the file). */
export function totalFromFullResponse(headers: HeaderMap): number | undefined {
  const encoding = header(headers, 'content-encoding');
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') return undefined;
  const length = header(headers, 'content-length');
  if (length === undefined || !/^\d+$/.test(length.trim())) return undefined;
  const n = Number(length);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * Whether a 206 is for the version the part holds. A 206 must carry the ETag
 * and Last-Modified a 200 would (RFC 9110 §15.3.7), so a validator the part
 * was written under and the 206 lacks counts as a change: splicing two
 * versions is worse than starting over.
 */
function sameRepresentation(known: Sidecar, now: Validator, total: number | undefined): boolean {
  if (known.etag !== undefined && (now.etag === undefined || !sameOpaqueTag(known.etag, now.etag))) return false;
  if (known.etag === undefined && known.lastModified !== undefined && now.lastModified !== known.lastModified) return false;
  if (known.total !== undefined && total !== undefined && known.total !== total) return false;
  return true;
}

export function classifyResponse(part: PartState, status: number, headers: HeaderMap): ResumeAction {
  if (status === 416) {
    const range = parseContentRange(header(headers, 'content-range'));
    if (range?.kind === 'unsatisfied' && part.offset > 0 && range.total === part.offset) {
      return { action: 'complete', total: range.total };
    }
    // No size given: a 416 to a Range with If-Range means the validator
    // matched (else the answer is a 200) and nothing lies past the part.
    const ifRangeSent = part.sidecar !== undefined && ifRangeValue(part.sidecar) !== undefined;
    if (range === undefined && part.offset > 0 && ifRangeSent && (part.sidecar?.total ?? part.offset) === part.offset) {
      return { action: 'complete', total: part.offset };
    }
    return { action: 'refetch', reason: 'the server could not serve the rest of the part (416)' };
  }
  const validator = validatorFrom(headers);
  if (status === 206) {
    const range = parseContentRange(header(headers, 'content-range'));
    if (range?.kind !== 'range') {
      return { action: 'refetch', reason: `206 with an unusable Content-Range (${header(headers, 'content-range') ?? 'none'})` };
    }
    if (range.start !== part.offset) {
      return { action: 'refetch', reason: `206 starting at byte ${range.start}, expected ${part.offset}` };
    }
    if (part.offset > 0 && part.sidecar && !sameRepresentation(part.sidecar, validator, range.total)) {
      // A server that ignores If-Range would otherwise make us splice two versions.
      return { action: 'refetch', reason: 'the file changed on the server since the part was written' };
    }
    // `bytes a-b/*`: the total the part was started with still holds (same version, checked above).
    const total = range.total ?? (part.offset > 0 ? part.sidecar?.total : undefined);
    return { action: 'append', total, end: range.end + 1, validator };
  }
  return { action: 'truncate', total: totalFromFullResponse(headers), validator };
}
