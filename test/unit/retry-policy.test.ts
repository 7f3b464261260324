import { describe, expect, it } from 'vitest';
import { DlrError } from '../../src/errors.js';
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
    expect(decision.reason).toMatch(/3600s/);
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
