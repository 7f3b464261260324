import { describe, expect, it } from 'vitest';
import { nameFromUrl, safeFileName } from '../../src/engine/safe-name.js';
import { filenameFromContentDisposition, MAX_CONTENT_DISPOSITION_CHARS } from '../../src/http/content-disposition.js';

describe('safeFileName', () => {
  it('keeps ordinary names', () => {
    expect(safeFileName('dreamshaper_8.safetensors')).toBe('dreamshaper_8.safetensors');
    expect(safeFileName('モデル v2.safetensors')).toBe('モデル v2.safetensors');
  });

  it.each([
    ['../../etc/passwd', 'passwd'],
    ['/etc/shadow', 'shadow'],
    ['..\\..\\windows\\system.ini', 'system.ini'],
    ['C:\\Users\\x\\evil.bin', 'evil.bin'],
    ['C:evil.bin', 'C_evil.bin'],
    ['a\u0000b.bin', 'ab.bin'],
    ['a\nb\r.bin', 'ab.bin'],
    ['model.safetensors\u202egpj.exe', 'model.safetensorsgpj.exe'],
    ['name. . .', 'name'],
    ['  spaced.bin  ', 'spaced.bin'],
    ['CON', '_CON'],
    ['nul.txt', '_nul.txt'],
    ['what?.bin', 'what_.bin'],
  ])('reduces %j to %j', (raw, expected) => {
    expect(safeFileName(raw)).toBe(expected);
  });

  it.each(['', '.', '..', '...', '/', '\\', '../', '\u0000'])('falls back for %j', (raw) => {
    expect(safeFileName(raw)).toBe('download');
  });

  it('keeps names within NAME_MAX with room for the sidecar suffix, keeping the extension', () => {
    const name = safeFileName(`${'é'.repeat(200)}.safetensors`);
    expect(Buffer.byteLength(`${name}.part.json`)).toBeLessThanOrEqual(255);
    expect(name.endsWith('.safetensors')).toBe(true);
  });
});

describe('safeFileName: dlr\'s own file names', () => {
  it.each([
    ['.dlr.lock', '_.dlr.lock'],
    ['.dlr-999999-abcd.tmp', '_.dlr-999999-abcd.tmp'],
    ['.dlr-hashes.json', '_.dlr-hashes.json'],
    ['model.safetensors.part', 'model.safetensors.part_'],
    ['model.safetensors.part.json', 'model.safetensors.part.json_'],
    ['MODEL.PART', 'MODEL.PART_'],
    ['partial.safetensors', 'partial.safetensors'],
  ])('defuses %j as %j', (raw, expected) => {
    expect(safeFileName(raw)).toBe(expected);
  });

  it('keeps a defused long name within NAME_MAX', () => {
    const name = safeFileName(`${'a'.repeat(300)}.part`);
    expect(name.endsWith('_')).toBe(true);
    expect(Buffer.byteLength(`${name}.part.json`)).toBeLessThanOrEqual(255);
  });
});

describe('nameFromUrl', () => {
  it('takes the last path segment, decoded', () => {
    expect(nameFromUrl(new URL('https://h/a/b/my%20model.ckpt?x=1'))).toBe('my model.ckpt');
    expect(nameFromUrl(new URL('https://h/'))).toBeUndefined();
  });
});

/**
 * Untrusted names of any length cost one pass: the old shortening loop
 * re-split the whole name per character removed (10k characters: 1.1 s,
 * 30k: 12.6 s, 1 MB: never finished), and a trailing-dots regex retried from
 * every dot of a run. These run at 1 MB; each finishes in milliseconds, far
 * inside the test timeout the old code could not meet.
 */
describe('safeFileName: megabyte names', () => {
  const MB = 1 << 20;

  it.each([
    ['a long stem', `${'a'.repeat(MB)}.safetensors`, (name: string) => name.endsWith('.safetensors')],
    ['a run of dots inside', `a${'.'.repeat(MB)}b`, (name: string) => name.startsWith('a.')],
    ['only dots and spaces', '. '.repeat(MB / 2), (name: string) => name === 'download'],
    ['many separators', `${'/a'.repeat(MB / 2)}/x.bin`, (name: string) => name === 'x.bin'],
    ['control characters', `${'\u0001'.repeat(MB)}x.bin`, (name: string) => name === 'x.bin'],
    ['multi-byte characters', `${'é'.repeat(MB)}.bin`, (name: string) => name.endsWith('é.bin')],
    ['astral characters', `${'😀'.repeat(MB / 2)}.bin`, (name: string) => name.endsWith('😀.bin')],
  ])('reduces %s to a name within NAME_MAX', (_label, raw, looksRight) => {
    const name = safeFileName(raw);
    expect(Buffer.byteLength(`${name}.part.json`)).toBeLessThanOrEqual(255);
    expect(looksRight(name)).toBe(true);
  });

  it('cuts at a character boundary, never inside a surrogate pair', () => {
    const name = safeFileName(`${'😀'.repeat(200)}.bin`);
    expect(name).toBe(`${'😀'.repeat(60)}.bin`);
  });
});

describe('names from a server: Content-Disposition', () => {
  it('reads a long name, which safeFileName then cuts', () => {
    const name = filenameFromContentDisposition(`attachment; filename="${'c'.repeat(10_000)}.bin"`);
    expect(name).toHaveLength(10_004);
    expect(safeFileName(name)).toBe(`${'c'.repeat(241)}.bin`);
  });

  it(`ignores a header past ${MAX_CONTENT_DISPOSITION_CHARS} characters: the URL names the file`, () => {
    expect(filenameFromContentDisposition(`attachment; filename="${'c'.repeat(MAX_CONTENT_DISPOSITION_CHARS)}.bin"`)).toBeUndefined();
  });
});
