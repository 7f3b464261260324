import { describe, expect, it } from 'vitest';
import { DlrError } from '../../src/errors.js';
import { parseRetryAfter } from '../../src/http/retry-after.js';
import { decideRetry } from '../../src/policy/retry-policy.js';

const policy = { retryDelaysMs: [60_000, 180_000, 300_000], maxRetryAfterMs: 900_000 };

describe('decideRetry', () => {
  it('walks the configured delays for rate limiting, then gives up', () => {
    const error = new DlrError('rate-limited', 'HTTP 429');
    expect(decideRetry({ retriesSoFar: 0, error, policy })).toMatchObject({ retry: true, delayMs: 60_000 });
    expect(decideRetry({ retriesSoFar: 1, error, policy })).toMatchObject({ retry: true, delayMs: 180_000 });
    expect(decideRetry({ retriesSoFar: 2, error, policy })).toMatchObject({ retry: true, delayMs: 300_000 });
    expect(decideRetry({ retriesSoFar: 3, error, policy })).toMatchObject({ retry: false });
  });

  it('waits the server Retry-After when it is longer than the configured delay', () => {
    const error = new DlrError('rate-limited', 'HTTP 429', { retryAfterMs: 120_000 });
    expect(decideRetry({ retriesSoFar: 0, error, policy })).toMatchObject({ retry: true, delayMs: 120_000 });
  });

  it('keeps the configured delay when Retry-After is shorter', () => {
    const error = new DlrError('rate-limited', 'HTTP 503', { retryAfterMs: 1_000 });
    expect(decideRetry({ retriesSoFar: 1, error, policy })).toMatchObject({ retry: true, delayMs: 180_000 });
  });

  it('fails at once when Retry-After exceeds the cap', () => {
    const error = new DlrError('rate-limited', 'HTTP 429', { retryAfterMs: 3_600_000 });
    const decision = decideRetry({ retriesSoFar: 0, error, policy });
    expect(decision.retry).toBe(false);
    expect(decision.reason).toMatch(/wait 60 min, more than the 15 min limit/);
  });

  it('says how far away a Retry-After date is, not a clamped timer value', () => {
    const retryAfterMs = parseRetryAfter('Thu, 01 Jan 2037 00:00:00 GMT', Date.parse('2026-12-01T00:00:00Z'));
    const decision = decideRetry({ retriesSoFar: 0, error: new DlrError('rate-limited', 'HTTP 503', { retryAfterMs }), policy });
    expect(decision.reason).toMatch(/wait 10 years,/);
    expect(decision.reason).not.toMatch(/2147484/);
  });

  it.each(['network', 'timeout', 'server-error'] as const)('retries %s with the same delays', (code) => {
    expect(decideRetry({ retriesSoFar: 0, error: new DlrError(code, 'x'), policy })).toMatchObject({ retry: true, delayMs: 60_000 });
  });

  it.each(['auth-required', 'forbidden', 'not-found', 'http-error', 'disk', 'redirect', 'invalid-response'] as const)(
    'does not retry %s',
    (code) => {
      expect(decideRetry({ retriesSoFar: 0, error: new DlrError(code, 'x'), policy }).retry).toBe(false);
    },
  );

  it('never retries with an empty delay list', () => {
    expect(decideRetry({ retriesSoFar: 0, error: new DlrError('network', 'x'), policy: { ...policy, retryDelaysMs: [] } }).retry).toBe(false);
  });
});
