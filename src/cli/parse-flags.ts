import { UsageError } from '../errors.js';
import { MAX_CONNECTIONS, MIN_SPLIT_SIZE_BYTES, type DownloadPolicy } from '../options.js';
import { parseByteSize, parseSeconds, parseSecondsList } from '../util/units.js';

/** Raw policy flags as commander hands them over: strings, unvalidated. */
export interface PolicyFlags {
  readonly retryDelays?: string;
  readonly maxRetryAfter?: string;
  readonly speedFloor?: string;
  readonly speedWindow?: string;
  readonly timeout?: string;
  readonly connectTimeout?: string;
  readonly maxRedirects?: string;
  readonly maxSize?: string;
  readonly cacert?: string;
  readonly connections?: string;
  readonly minSplitSize?: string;
}

/** Converts user units (seconds, `10KiB`) to the policy's ms and bytes, exactly once, naming the flag on error. */
export function policyFromFlags(flags: PolicyFlags): DownloadPolicy {
  const seconds = (flag: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    const ms = parseSeconds(value);
    if (ms === undefined) throw new UsageError(`${flag} takes seconds (decimals allowed), got '${value}'`);
    return ms;
  };
  let retryDelaysMs: number[] | undefined;
  if (flags.retryDelays !== undefined) {
    retryDelaysMs = parseSecondsList(flags.retryDelays);
    if (retryDelaysMs === undefined) {
      throw new UsageError(`--retry-delays takes comma-separated seconds such as 60,180,300, got '${flags.retryDelays}'`);
    }
  }
  let speedFloorBytesPerSec: number | undefined;
  if (flags.speedFloor !== undefined) {
    speedFloorBytesPerSec = parseByteSize(flags.speedFloor);
    if (speedFloorBytesPerSec === undefined) {
      throw new UsageError(`--speed-floor takes a rate such as 10KiB or 1MB (0 turns it off), got '${flags.speedFloor}'`);
    }
  }
  let maxRedirects: number | undefined;
  if (flags.maxRedirects !== undefined) {
    if (!/^\d+$/.test(flags.maxRedirects)) throw new UsageError(`--max-redirects takes a whole number, got '${flags.maxRedirects}'`);
    maxRedirects = Number(flags.maxRedirects);
  }
  let maxFileBytes: number | undefined;
  if (flags.maxSize !== undefined) {
    maxFileBytes = parseByteSize(flags.maxSize);
    if (maxFileBytes === undefined) throw new UsageError(`--max-size takes a size such as 20GiB (0 = no limit), got '${flags.maxSize}'`);
  }
  let connections: number | undefined;
  if (flags.connections !== undefined) {
    const n = /^\d+$/.test(flags.connections.trim()) ? Number(flags.connections) : Number.NaN;
    if (!(n >= 1 && n <= MAX_CONNECTIONS)) throw new UsageError(`--connections takes a whole number from 1 to ${MAX_CONNECTIONS}, got '${flags.connections}'`);
    connections = n;
  }
  let minSplitSizeBytes: number | undefined;
  if (flags.minSplitSize !== undefined) {
    minSplitSizeBytes = parseByteSize(flags.minSplitSize);
    if (minSplitSizeBytes === undefined || minSplitSizeBytes < MIN_SPLIT_SIZE_BYTES) {
      throw new UsageError(`--min-split-size takes a size of at least 64KiB such as 20MiB, got '${flags.minSplitSize}'`);
    }
  }
  return {
    connections,
    minSplitSizeBytes,
    maxFileBytes,
    retryDelaysMs,
    maxRetryAfterMs: seconds('--max-retry-after', flags.maxRetryAfter),
    speedFloorBytesPerSec,
    speedWindowMs: seconds('--speed-window', flags.speedWindow),
    idleTimeoutMs: seconds('--timeout', flags.timeout),
    connectTimeoutMs: seconds('--connect-timeout', flags.connectTimeout),
    maxRedirects,
  };
}

/** `Name: value` → [name, value]; used for repeatable --header. */
export function parseHeader(text: string): [string, string] {
  const colon = text.indexOf(':');
  const name = colon > 0 ? text.slice(0, colon).trim() : '';
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
    throw new UsageError(`--header takes 'Name: value', got '${text.slice(0, 40)}'`);
  }
  const value = text.slice(colon + 1).trim();
  if (/[\r\n\0]/.test(value)) throw new UsageError(`--header value for ${name} contains a line break or NUL`);
  return [name.toLowerCase(), value];
}
