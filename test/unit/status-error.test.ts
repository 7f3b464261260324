import { describe, expect, it } from 'vitest';
import { errorForStatus } from '../../src/http/status-error.js';

describe('errorForStatus and the RateLimit header', () => {
  // The Hub puts `RateLimit` on ordinary answers too (WIRE.md 2.2): `t` is when the window
  // resets, which is a wait only once the window is spent (`r=0`) or the answer is a 429.
  it('ignores the window reset on a 503 whose window still has requests left', () => {
    const error = errorForStatus(503, { ratelimit: '"resolvers";r=2999;t=172' });
    expect(error.code).toBe('rate-limited');
    expect(error.retryAfterMs).toBeUndefined();
  });

  it('waits out the window reset on a 429', () => {
    expect(errorForStatus(429, { ratelimit: '"resolvers";r=2999;t=172' }).retryAfterMs).toBe(172_000);
  });

  it('waits out the window reset on any status when the window is spent (r=0)', () => {
    expect(errorForStatus(503, { ratelimit: '"api";r=0;t=55' }).retryAfterMs).toBe(55_000);
  });

  it('keeps Retry-After on every status, ahead of RateLimit', () => {
    expect(errorForStatus(503, { 'retry-after': '7', ratelimit: '"api";r=0;t=55' }).retryAfterMs).toBe(7_000);
    expect(errorForStatus(500, { 'retry-after': '3' }).retryAfterMs).toBe(3_000);
  });
});
