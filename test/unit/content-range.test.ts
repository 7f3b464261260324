import { describe, expect, it } from 'vitest';
import { parseContentRange } from '../../src/http/content-range.js';

describe('parseContentRange', () => {
  it('parses a satisfied range with a total', () => {
    expect(parseContentRange('bytes 100-199/1000')).toEqual({ kind: 'range', start: 100, end: 199, total: 1000 });
  });

  it('parses an unknown total', () => {
    expect(parseContentRange('bytes 0-9/*')).toEqual({ kind: 'range', start: 0, end: 9, total: undefined });
  });

  it('parses the 416 form', () => {
    expect(parseContentRange('bytes */1234')).toEqual({ kind: 'unsatisfied', total: 1234 });
  });

  it('rejects inverted, out-of-bounds and malformed ranges', () => {
    for (const bad of [undefined, '', 'bytes 10-5/100', 'bytes 0-100/100', 'items 0-1/2', 'bytes 0-/100', 'bytes a-b/c', 'bytes 0-99999999999999999999/1e30']) {
      expect(parseContentRange(bad)).toBeUndefined();
    }
  });
});
