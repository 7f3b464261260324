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

export function safeFileName(raw: string | undefined, fallback = 'download'): string {
  let name = (raw ?? '').normalize('NFC');
  // Keep only the last path component, whichever separator the source used.
  name = name.split(/[/\\]/).pop() ?? '';
  // Drive letters and alternate data streams (C:foo, name:stream).
  name = name.replace(/:/g, '_');
  // NUL, C0/C1 controls, DEL and bidi overrides that disguise extensions.
  name = name.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '');
  name = name.replace(/[<>"|?*]/g, '_');
  // Windows strips trailing dots and spaces; leading spaces are invisible.
  name = name.trim().replace(/[. ]+$/, '');
  if (name === '' || /^\.+$/.test(name)) return fallback;
  if (WINDOWS_RESERVED.test(name)) name = `_${name}`;
  // dlr's own files share the folder: a server must not name a download after
  // the run lock, a temp file (swept as an orphan) or another file's part.
  if (/^\.dlr/i.test(name)) name = `_${name}`;
  name = truncateUtf8(name, MAX_NAME_BYTES);
  if (/\.part(\.json)?$/i.test(name)) name = `${truncateUtf8(name, MAX_NAME_BYTES - 1)}_`;
  return name;
}

/** Shortens to `max` UTF-8 bytes, keeping the extension and whole characters. */
function truncateUtf8(name: string, max: number): string {
  if (Buffer.byteLength(name) <= max) return name;
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 && name.length - dot <= 16 ? name.slice(dot) : '';
  let stem = name.slice(0, name.length - ext.length);
  const budget = max - Buffer.byteLength(ext);
  while (Buffer.byteLength(stem) > budget) {
    stem = Array.from(stem).slice(0, -1).join('');
  }
  return stem + ext;
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
