/**
 * User-facing units, converted once at the edge (CLI flags, config file).
 */

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1000,
  kb: 1000,
  kib: 1024,
  m: 1000 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1000 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/**
 * Parses a byte size such as `10KiB`, `1.5MB`, `512` (bytes), optionally with
 * a `/s` suffix. Returns undefined when the text is not a size.
 */
export function parseByteSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*(?:\/s)?\s*$/i.exec(text);
  if (!match) return undefined;
  const factor = SIZE_UNITS[(match[2] ?? '').toLowerCase()];
  if (factor === undefined) return undefined;
  return Math.round(Number(match[1]) * factor);
}

/** Parses seconds, decimals allowed (`0.05`), into ms. */
export function parseSeconds(text: string): number | undefined {
  if (!/^\s*(\d+(?:\.\d+)?|\.\d+)\s*$/.test(text)) return undefined;
  return Math.round(Number(text) * 1000);
}

/** Parses a comma-separated list of seconds (`60,180,300`) into ms. */
export function parseSecondsList(text: string): number[] | undefined {
  if (text.trim() === '') return [];
  const parts = text.split(',').map(parseSeconds);
  return parts.every((p): p is number => p !== undefined) ? parts : undefined;
}

/** 1536 → "1.5 KiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** 61500 → "1m01s", 2500 → "2.5s". */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;
  const totalSeconds = Math.round(ms / 1000);
  const h = Math.floor(totalSeconds / 3600);
  const m = Math.floor((totalSeconds % 3600) / 60);
  const s = totalSeconds % 60;
  const mm = String(m).padStart(h > 0 ? 2 : 1, '0');
  return `${h > 0 ? `${h}h` : ''}${mm}m${String(s).padStart(2, '0')}s`;
}
