/**
 * Headers reach us decoded as Latin-1, byte for byte. Some servers put raw
 * UTF-8 in a header (a non-ASCII `filename="…"`, WIRE.md 1.4; a `Location`
 * with a raw `é`): re-read those as UTF-8 when the bytes form valid UTF-8, as
 * browsers and curl do, so names are not mojibake and URLs not encoded twice.
 * Two regex scans without backtracking and one decode: linear in the value,
 * whose length the HTTP client's header-size limit caps.
 */
export function repairLatin1(value: string): string {
  if (!/[\u0080-\u00ff]/.test(value) || /[^\u0000-\u00ff]/.test(value)) return value;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(value, 'latin1'));
  } catch {
    return value;
  }
}
