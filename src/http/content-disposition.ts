import { repairLatin1 } from './header-text.js';

/**
 * Longest header read for a name. A name is cut to 245 bytes anyway; the
 * longest a history may give (4 KiB) fits three times over, percent-encoded,
 * as both `filename` and `filename*`. A longer header is not a name anyone
 * meant, and the name then comes from the URL as when there is none.
 */
export const MAX_CONTENT_DISPOSITION_CHARS = 16 * 1024;

/**
 * Extracts the file name from a Content-Disposition header (RFC 6266):
 * `filename*` (RFC 8187 ext-value, UTF-8 or ISO-8859-1) wins over `filename`.
 * The result is untrusted: callers pass it through `safeFileName`. Linear in
 * the header's length, which is capped.
 */
export function filenameFromContentDisposition(header: string | undefined): string | undefined {
  if (!header || header.length > MAX_CONTENT_DISPOSITION_CHARS) return undefined;
  const params = parseParams(header);
  const extended = params.get('filename*');
  if (extended !== undefined) {
    const decoded = decodeExtValue(extended);
    if (decoded) return decoded;
  }
  const plain = params.get('filename');
  if (plain === undefined || plain === '') return undefined;
  return repairLatin1(plain);
}

/** Splits `type; a=b; c="d;e"` into lower-cased names and unquoted values. */
function parseParams(header: string): Map<string, string> {
  const params = new Map<string, string>();
  let i = header.indexOf(';');
  if (i < 0) return params;
  const n = header.length;
  while (i < n) {
    i++; // past ';'
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
    const eq = header.indexOf('=', i);
    if (eq < 0) break;
    const name = header.slice(i, eq).trim().toLowerCase();
    i = eq + 1;
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
    let value = '';
    if (header[i] === '"') {
      i++;
      while (i < n && header[i] !== '"') {
        if (header[i] === '\\' && i + 1 < n) i++;
        value += header[i];
        i++;
      }
      i++; // closing quote
      const next = header.indexOf(';', i);
      i = next < 0 ? n : next;
    } else {
      const next = header.indexOf(';', i);
      const end = next < 0 ? n : next;
      value = header.slice(i, end).trim();
      i = end;
    }
    // RFC 6266 §4.1: a parameter that occurs twice makes the header invalid;
    // keeping the first is what browsers do.
    if (name && !params.has(name)) params.set(name, value);
  }
  return params;
}

/** RFC 8187: charset'language'pct-encoded. */
function decodeExtValue(value: string): string | undefined {
  const match = /^([^']*)'[^']*'(.*)$/.exec(value);
  if (!match) return undefined;
  const charset = (match[1] ?? '').toLowerCase();
  const encoded = match[2] ?? '';
  try {
    if (charset === 'utf-8') return decodeURIComponent(encoded);
    if (charset === 'iso-8859-1') {
      const bytes = encoded.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
      return bytes;
    }
  } catch {
    return undefined;
  }
  return undefined;
}
