/**
 * Reduces an untrusted name (from a history row, a URL or Content-Disposition)
 * to a single safe path component, so no write can land outside the
 * destination directory: separators, `..`, drive letters, NUL and control
 * characters are removed, and names Windows reserves are defused because
 * model folders are often shared with Windows machines, as are the names of
 * dlr's own files (`.dlr*`, `*.part`, `*.part.json`).
 */

/** Room left for the `.part.json` sidecar suffix within NAME_MAX (255 bytes). */
const MAX_NAME_BYTES = 255 - '.part.json'.length;

const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;

/**
 * Names that every step below would leave as they are: ASCII, no separator or
 * reserved character, not starting with a dot or space nor ending with one,
 * short. Most history rows look like this; they skip the allocations.
 */
const PLAIN = /^[A-Za-z0-9_+-][A-Za-z0-9_+ .-]*[A-Za-z0-9_+-]$/;
const PART_SUFFIX = /\.part(\.json)?$/i;

export function safeFileName(raw: string | undefined, fallback = 'download'): string {
  if (raw !== undefined && raw.length <= MAX_NAME_BYTES && PLAIN.test(raw) && !WINDOWS_RESERVED.test(raw) && !PART_SUFFIX.test(raw)) return raw;
  const whole = raw ?? '';
  // Keep only the last path component, whichever separator the source used
  // (NFC composes no character into a separator, so this may come first).
  let name = whole.slice(Math.max(whole.lastIndexOf('/'), whole.lastIndexOf('\\')) + 1).normalize('NFC');
  // Drive letters and alternate data streams (C:foo, name:stream).
  name = name.replace(/:/g, '_');
  // NUL, C0/C1 controls, DEL and bidi overrides that disguise extensions.
  name = name.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '');
  name = name.replace(/[<>"|?*]/g, '_');
  // Windows strips trailing dots and spaces; leading spaces are invisible.
  // (A loop, not /[. ]+$/: that regex retries from every dot of a long run
  // of dots, quadratic in the run's length.)
  name = trimTrailingDotsAndSpaces(name.trim());
  if (name === '' || /^\.+$/.test(name)) return fallback;
  if (WINDOWS_RESERVED.test(name)) name = `_${name}`;
  // dlr's own files share the folder: a server must not name a download after
  // the run lock, a temp file (swept as an orphan) or another file's part.
  if (/^\.dlr/i.test(name)) name = `_${name}`;
  name = truncateUtf8(name, MAX_NAME_BYTES);
  if (PART_SUFFIX.test(name)) name = `${truncateUtf8(name, MAX_NAME_BYTES - 1)}_`;
  return name;
}

/**
 * Shortens to `max` UTF-8 bytes, keeping the extension and whole characters.
 * One pass over at most `max` characters of the stem, however long the name:
 * it may come from a history row or a server (a 1 MB name must not cost
 * more than a short one).
 */
function truncateUtf8(name: string, max: number): string {
  if (Buffer.byteLength(name) <= max) return name;
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : '';
  const stem = name.slice(0, name.length - ext.length);
  const budget = max - Buffer.byteLength(ext);
  let bytes = 0;
  let end = 0;
  while (end < stem.length) {
    const cp = stem.codePointAt(end)!;
    // A lone surrogate counts as 3 bytes, as Buffer.byteLength counts it (U+FFFD).
    const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + size > budget) break;
    bytes += size;
    end += cp > 0xffff ? 2 : 1;
  }
  return stem.slice(0, end) + ext;
}

function trimTrailingDotsAndSpaces(name: string): string {
  let end = name.length;
  while (end > 0 && (name[end - 1] === '.' || name[end - 1] === ' ')) end--;
  return name.slice(0, end);
}

/** The last path segment of a URL, percent-decoded, or undefined. */
export function nameFromUrl(url: URL): string | undefined {
  const segment = url.pathname.split('/').filter(Boolean).pop();
  if (!segment) return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
