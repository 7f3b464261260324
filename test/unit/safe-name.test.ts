import { describe, expect, it } from 'vitest';
import { nameFromUrl, safeFileName } from '../../src/engine/safe-name.js';

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
