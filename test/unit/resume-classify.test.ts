import { describe, expect, it } from 'vitest';
import { classifyResponse, validatorFrom } from '../../src/engine/resume.js';
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

describe('validatorFrom', () => {
  it('prefers a strong ETag and drops weak ones (they cannot be used with If-Range)', () => {
    expect(validatorFrom({ etag: '"abc"', 'last-modified': 'x' })).toEqual({ etag: '"abc"', lastModified: 'x' });
    expect(validatorFrom({ etag: 'W/"abc"', 'last-modified': 'x' })).toEqual({ lastModified: 'x' });
  });
});
