/**
 * A parsed `Content-Range` (RFC 9110 §14.4). `total` is undefined for `*`.
 * `unsatisfied` is the `bytes *\/size` form sent with 416.
 */
export type ContentRange =
  | { readonly kind: 'range'; readonly start: number; readonly end: number; readonly total: number | undefined }
  | { readonly kind: 'unsatisfied'; readonly total: number };

export function parseContentRange(value: string | undefined): ContentRange | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  const unsatisfied = /^bytes\s+\*\/(\d+)$/i.exec(text);
  if (unsatisfied) {
    const total = toSafeInt(unsatisfied[1]);
    return total === undefined ? undefined : { kind: 'unsatisfied', total };
  }
  const match = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(text);
  if (!match) return undefined;
  const start = toSafeInt(match[1]);
  const end = toSafeInt(match[2]);
  const total = match[3] === '*' ? undefined : toSafeInt(match[3]);
  if (start === undefined || end === undefined || end < start) return undefined;
  if (match[3] !== '*' && (total === undefined || end >= total)) return undefined;
  return { kind: 'range', start, end, total };
}

function toSafeInt(digits: string | undefined): number | undefined {
  if (digits === undefined) return undefined;
  const n = Number(digits);
  return Number.isSafeInteger(n) ? n : undefined;
}
