import { describe, expect, it } from 'vitest';
import { parseRetryAfter } from '../../src/http/retry-after.js';
import { MAX_TIMER_MS } from '../../src/options.js';

describe('parseRetryAfter', () => {
  const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');

  it('reads delay-seconds as milliseconds', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
  });

  it('reads an HTTP-date relative to now', () => {
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now)).toBe(30_000);
  });

  it('treats a date in the past as no wait', () => {
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:00:00 GMT', now)).toBe(0);
  });

  it('returns undefined for junk, negatives and decimals', () => {
    for (const junk of [undefined, '', 'soon', '-5', '1.5', '12abc', '2015-10-21']) {
      expect(parseRetryAfter(junk, now)).toBeUndefined();
    }
  });

  it('clamps huge values to the timer ceiling instead of overflowing into an immediate retry', () => {
    expect(parseRetryAfter('99999999999', now)).toBe(99_999_999_999_000);
    expect(parseRetryAfter('9'.repeat(400), now)).toBe(Number.MAX_SAFE_INTEGER);
    expect(parseRetryAfter('Fri, 01 Jan 2100 00:00:00 GMT', now)).toBe(Date.parse('2100-01-01T00:00:00Z') - now);
  });
});
