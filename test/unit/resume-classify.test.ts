import { describe, expect, it } from 'vitest';
import { classifyResponse, ifRangeValue, validatorFrom } from '../../src/engine/resume.js';
import type { Sidecar } from '../../src/engine/part-file.js';

const sidecar: Sidecar = { version: 1, url: 'http://h/f', etag: '"v1"', total: 1000 };
const part = { offset: 400, sidecar };

describe('classifyResponse', () => {
  it('appends a 206 that starts at the part offset', () => {
    expect(classifyResponse(part, 206, { 'content-range': 'bytes 400-999/1000', etag: '"v1"' })).toMatchObject({
      action: 'append',
      total: 1000,
      end: 1000,
    });
  });

  it('starts over on a 200 (range ignored or file changed)', () => {
    expect(classifyResponse(part, 200, { 'content-length': '1200', etag: '"v2"' })).toMatchObject({
      action: 'truncate',
      total: 1200,
      validator: { etag: '"v2"' },
    });
  });

  it('refetches a 206 that starts elsewhere', () => {
    expect(classifyResponse(part, 206, { 'content-range': 'bytes 0-999/1000' })).toMatchObject({ action: 'refetch' });
  });

  it('refetches a 206 for another version (a server that ignored If-Range)', () => {
    expect(classifyResponse(part, 206, { 'content-range': 'bytes 400-999/1000', etag: '"v2"' })).toMatchObject({
      action: 'refetch',
    });
    expect(classifyResponse(part, 206, { 'content-range': 'bytes 400-1999/2000' })).toMatchObject({ action: 'refetch' });
  });

  it('refetches a 206 without a usable Content-Range', () => {
    expect(classifyResponse(part, 206, {})).toMatchObject({ action: 'refetch' });
    expect(classifyResponse(part, 206, { 'content-range': 'bytes 400-300/1000' })).toMatchObject({ action: 'refetch' });
  });

  it('completes on a 416 whose size equals the part', () => {
    expect(classifyResponse({ offset: 1000, sidecar }, 416, { 'content-range': 'bytes */1000' })).toEqual({
      action: 'complete',
      total: 1000,
    });
  });

  it('refetches on a 416 for another size or without a size', () => {
    expect(classifyResponse(part, 416, { 'content-range': 'bytes */1000' })).toMatchObject({ action: 'refetch' });
    expect(classifyResponse(part, 416, {})).toMatchObject({ action: 'refetch' });
  });

  it('takes no total from a content-coded 200', () => {
    expect(classifyResponse({ offset: 0, sidecar: undefined }, 200, { 'content-length': '50', 'content-encoding': 'gzip' })).toMatchObject({
      action: 'truncate',
      total: undefined,
    });
  });
});

describe('classifyResponse: validators', () => {
  it('refetches a 206 that lacks the ETag the part was written under', () => {
    expect(classifyResponse(part, 206, { 'content-range': 'bytes 400-999/1000' })).toMatchObject({ action: 'refetch' });
  });

  it('compares weak ETags by their opaque tag', () => {
    const weak = { offset: 400, sidecar: { ...sidecar, etag: 'W/"w1"' } };
    expect(classifyResponse(weak, 206, { 'content-range': 'bytes 400-999/1000', etag: 'W/"w1"' })).toMatchObject({ action: 'append' });
    expect(classifyResponse(weak, 206, { 'content-range': 'bytes 400-999/1000', etag: '"w1"' })).toMatchObject({ action: 'append' });
    expect(classifyResponse(weak, 206, { 'content-range': 'bytes 400-999/1000', etag: 'W/"w2"' })).toMatchObject({ action: 'refetch' });
  });

  it('refetches a 206 whose Last-Modified differs or is missing when the part has only a date', () => {
    const dated = { offset: 400, sidecar: { version: 1, url: 'http://h/f', lastModified: 'd1', total: 1000 } as Sidecar };
    expect(classifyResponse(dated, 206, { 'content-range': 'bytes 400-999/1000', 'last-modified': 'd1' })).toMatchObject({ action: 'append' });
    expect(classifyResponse(dated, 206, { 'content-range': 'bytes 400-999/1000', 'last-modified': 'd2' })).toMatchObject({ action: 'refetch' });
    expect(classifyResponse(dated, 206, { 'content-range': 'bytes 400-999/1000' })).toMatchObject({ action: 'refetch' });
  });
});

describe('classifyResponse: unknown totals', () => {
  it('keeps the total the part was started with when a 206 says bytes a-b/*', () => {
    expect(classifyResponse(part, 206, { 'content-range': 'bytes 400-599/*', etag: '"v1"' })).toMatchObject({
      action: 'append',
      total: 1000,
      end: 600,
    });
  });

  it('leaves the total unknown for a 206 from byte 0 with no known total', () => {
    expect(classifyResponse({ offset: 0, sidecar: undefined }, 206, { 'content-range': 'bytes 0-99/*' })).toMatchObject({
      action: 'append',
      total: undefined,
      end: 100,
    });
  });

  it('completes on a 416 with no size only when If-Range vouched for the version and no other total is known', () => {
    const open = { offset: 600, sidecar: { version: 1, url: 'http://h/f', etag: '"v1"' } as Sidecar };
    expect(classifyResponse(open, 416, {})).toEqual({ action: 'complete', total: 600 });
    const weakOnly = { offset: 600, sidecar: { version: 1, url: 'http://h/f', etag: 'W/"v1"' } as Sidecar };
    expect(classifyResponse(weakOnly, 416, {})).toMatchObject({ action: 'refetch' });
    expect(classifyResponse({ offset: 600, sidecar: { ...open.sidecar, total: 1000 } }, 416, {})).toMatchObject({ action: 'refetch' });
  });
});

describe('validatorFrom and ifRangeValue', () => {
  it('keeps weak ETags but never sends them, nor a date beside any ETag (RFC 9110 13.1.5)', () => {
    expect(validatorFrom({ etag: '"abc"', 'last-modified': 'x' })).toEqual({ etag: '"abc"', lastModified: 'x' });
    expect(validatorFrom({ etag: 'W/"abc"', 'last-modified': 'x' })).toEqual({ etag: 'W/"abc"', lastModified: 'x' });
    expect(ifRangeValue({ etag: '"abc"', lastModified: 'x' })).toBe('"abc"');
    expect(ifRangeValue({ etag: 'W/"abc"', lastModified: 'x' })).toBeUndefined();
    expect(ifRangeValue({ lastModified: 'x' })).toBe('x');
  });
});
