import { ConfigError } from './errors.js';

/**
 * How one file is fetched: retries, throttling detection, timeouts.
 * Every duration is in milliseconds and every rate in bytes per second;
 * the CLI and config layers convert user units exactly once.
 */
export interface DownloadPolicy {
  /**
   * Waits before each retry; their count is the number of retries.
   * The seed plan's 60/180/300 s.
   * @default [60000, 180000, 300000]
   */
  readonly retryDelaysMs?: readonly number[];
  /**
   * The longest Retry-After dlr honours. A server asking for more fails the
   * file at once as `rate-limited` rather than stalling a nightly batch.
   * @default 900000 (15 min)
   */
  readonly maxRetryAfterMs?: number;
  /**
   * Below this average speed over `speedWindowMs`, the attempt is aborted as
   * `rate-limited` (the seed's 速度制限検出). 0 disables the floor.
   * @default 10240 (10 KiB/s)
   */
  readonly speedFloorBytesPerSec?: number;
  /**
   * The sliding window the speed floor is measured over.
   * @default 30000
   */
  readonly speedWindowMs?: number;
  /**
   * How often the transfer is sampled for the speed floor and progress events.
   * Clamped to a quarter of `speedWindowMs` so the floor reacts in time.
   * @default 250
   */
  readonly sampleIntervalMs?: number;
  /**
   * TCP/TLS connect timeout.
   * @default 30000
   */
  readonly connectTimeoutMs?: number;
  /**
   * Longest wait for response headers, and longest silence inside a body.
   * @default 60000
   */
  readonly idleTimeoutMs?: number;
  /**
   * Redirects followed per request before failing with `redirect`.
   * @default 10
   */
  readonly maxRedirects?: number;
  /**
   * Bytes gathered from the body before one write to the part. Measured
   * with `npm run bench` (1 GiB, 2-core VM): writes of 64 KiB or less cost
   * dlr ~1.8 s of CPU, writes of 128 KiB and more ~2.7 s, almost all of the
   * difference in the kernel's page-cache copy (larger writes get larger
   * page-cache folios, which are slow to allocate on that machine). Smaller
   * than 64 KiB only adds system calls.
   * @default 65536
   */
  readonly writeBufferBytes?: number;
  /**
   * Start flushing the part to disk in the background after every this many
   * bytes, so the fsync before the rename only waits for the tail. 0 = flush
   * only at the end.
   * @default 67108864
   */
  readonly syncEveryBytes?: number;
  /**
   * Run a young-generation GC after every this many body bytes, so Node's
   * per-read socket buffers are reused while warm instead of piling up
   * (see src/util/young-gc.ts). 0 = leave it to V8.
   * @default 8388608
   */
  readonly collectEveryBytes?: number;
  /**
   * Refuse a body that grows past this many bytes (an endless or runaway
   * body with no length). 0 = no limit. A size the source publishes caps
   * the body too, whatever this says.
   * @default 0
   */
  readonly maxFileBytes?: number;
  /**
   * How much of a response body may wait unread (while the part file is
   * being prepared, or the disk is slower than the network) before dlr stops
   * reading its socket and lets TCP slow the server down (see
   * src/http/socket-hold.ts). Bytes are never dropped; with N transfers in
   * flight at most N times this waits in memory.
   * @default 1048576
   */
  readonly responseBufferBytes?: number;
  /**
   * Connections one file may be fetched over at once (aria2's `-x`), each
   * asking for its own byte range; only when the server serves ranges for
   * a strong validator (see src/engine/segmented.ts). At most 16, as aria2
   * allows per server: more only looks like an attack to a CDN.
   * @default 1
   */
  readonly connections?: number;
  /**
   * No range is split below this size (aria2's `-k`): a connection takes
   * half of another's remaining range only when both halves are at least
   * this big, so a file gets a second connection from twice this size.
   * @default 20971520 (20 MiB)
   */
  readonly minSplitSizeBytes?: number;
}

export type ResolvedPolicy = Readonly<Required<DownloadPolicy>>;

export const DEFAULT_POLICY: ResolvedPolicy = Object.freeze({
  retryDelaysMs: Object.freeze([60_000, 180_000, 300_000]),
  maxRetryAfterMs: 900_000,
  speedFloorBytesPerSec: 10 * 1024,
  speedWindowMs: 30_000,
  sampleIntervalMs: 250,
  connectTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
  maxRedirects: 10,
  writeBufferBytes: 64 * 1024,
  syncEveryBytes: 64 * 1024 * 1024,
  collectEveryBytes: 8 * 1024 * 1024,
  maxFileBytes: 0,
  responseBufferBytes: 1024 * 1024,
  connections: 1,
  minSplitSizeBytes: 20 * 1024 * 1024,
});

/** aria2's cap per server; see `connections`. */
export const MAX_CONNECTIONS = 16;
/** A smaller split is all request overhead. */
export const MIN_SPLIT_SIZE_BYTES = 64 * 1024;

/** The seed's sleep_between_downloads: pause after each successful download in a batch. */
export const DEFAULT_PAUSE_BETWEEN_MS = 5_000;

/** The write batch is one buffer per transfer; past this it is memory, not speed. */
const MAX_WRITE_BUFFER_BYTES = 64 * 1024 * 1024;

/** setTimeout's ceiling: a longer delay would fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

function checkDuration(key: string, value: number, { min = 0 } = {}): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new ConfigError(`${key} must be a number >= ${min}, got ${JSON.stringify(value)}`);
  }
  if (value > MAX_TIMER_MS) {
    throw new ConfigError(`${key} must be at most ${MAX_TIMER_MS} ms (about 24.8 days), got ${value}`);
  }
  return value;
}

function checkCount(key: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${key} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Fills defaults and rejects values that cannot work, naming the key. */
export function resolvePolicy(partial: DownloadPolicy = {}): ResolvedPolicy {
  const merged = { ...DEFAULT_POLICY, ...stripUndefined(partial) };
  if (!Array.isArray(merged.retryDelaysMs)) {
    throw new ConfigError('retryDelaysMs must be a list of durations');
  }
  const retryDelaysMs = Object.freeze(merged.retryDelaysMs.map((d, i) => checkDuration(`retryDelaysMs[${i}]`, d)));
  const speedWindowMs = checkDuration('speedWindowMs', merged.speedWindowMs, { min: 1 });
  const sampleIntervalMs = Math.max(
    1,
    Math.min(checkDuration('sampleIntervalMs', merged.sampleIntervalMs, { min: 1 }), speedWindowMs / 4),
  );
  const speedFloor = merged.speedFloorBytesPerSec;
  if (typeof speedFloor !== 'number' || !Number.isFinite(speedFloor) || speedFloor < 0) {
    throw new ConfigError(`speedFloorBytesPerSec must be a number >= 0, got ${JSON.stringify(speedFloor)}`);
  }
  return Object.freeze({
    retryDelaysMs,
    maxRetryAfterMs: checkDuration('maxRetryAfterMs', merged.maxRetryAfterMs),
    speedFloorBytesPerSec: speedFloor,
    speedWindowMs,
    sampleIntervalMs,
    connectTimeoutMs: checkDuration('connectTimeoutMs', merged.connectTimeoutMs, { min: 1 }),
    idleTimeoutMs: checkDuration('idleTimeoutMs', merged.idleTimeoutMs, { min: 1 }),
    maxRedirects: checkCount('maxRedirects', merged.maxRedirects, 0),
    writeBufferBytes: checkCount('writeBufferBytes', merged.writeBufferBytes, 1024, MAX_WRITE_BUFFER_BYTES),
    syncEveryBytes: checkCount('syncEveryBytes', merged.syncEveryBytes, 0),
    collectEveryBytes: checkCount('collectEveryBytes', merged.collectEveryBytes, 0),
    responseBufferBytes: checkCount('responseBufferBytes', merged.responseBufferBytes, 1024),
    maxFileBytes: checkCount('maxFileBytes', merged.maxFileBytes, 0),
    connections: checkCount('connections', merged.connections, 1, MAX_CONNECTIONS),
    minSplitSizeBytes: checkCount('minSplitSizeBytes', merged.minSplitSizeBytes, MIN_SPLIT_SIZE_BYTES),
  });
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
