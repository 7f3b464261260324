import { resolvePolicy, type DownloadPolicy, type ResolvedPolicy } from '../../src/options.js';

/** Real policy logic with every delay shrunk so the suite stays fast and deterministic. */
export function fastPolicy(overrides: DownloadPolicy = {}): ResolvedPolicy {
  return resolvePolicy({
    retryDelaysMs: [5, 5, 5],
    speedFloorBytesPerSec: 0,
    speedWindowMs: 300,
    sampleIntervalMs: 20,
    connectTimeoutMs: 2_000,
    idleTimeoutMs: 2_000,
    ...overrides,
  });
}
