import { describe, expect, it } from 'vitest';
import { filenameFromContentDisposition } from '../../src/http/content-disposition.js';

describe('filenameFromContentDisposition', () => {
  it('reads a quoted filename (Civitai CDN form)', () => {
    expect(filenameFromContentDisposition('attachment; filename="model.safetensors"')).toBe('model.safetensors');
  });

  it('prefers filename* in UTF-8 over filename (Hugging Face CDN form)', () => {
    const header = `inline; filename*=UTF-8''mod%C3%A8le.onnx; filename="model.onnx";`;
    expect(filenameFromContentDisposition(header)).toBe('modèle.onnx');
  });

  it('prefers filename* even when it comes second', () => {
    expect(filenameFromContentDisposition(`attachment; filename="a.bin"; filename*=utf-8''b%20c.bin`)).toBe('b c.bin');
  });

  it('decodes ISO-8859-1 ext-values', () => {
    expect(filenameFromContentDisposition(`attachment; filename*=iso-8859-1'en'caf%E9.pt`)).toBe('café.pt');
  });

  it('handles escaped quotes and semicolons inside quoted strings', () => {
    expect(filenameFromContentDisposition('attachment; filename="a\\"b;c.bin"; size=3')).toBe('a"b;c.bin');
  });

  it('reads a token filename', () => {
    expect(filenameFromContentDisposition('attachment; filename=plain.ckpt')).toBe('plain.ckpt');
  });

  it('repairs raw UTF-8 bytes that arrived decoded as Latin-1', () => {
    const mojibake = Buffer.from('モデル.safetensors', 'utf8').toString('latin1');
    expect(filenameFromContentDisposition(`attachment; filename="${mojibake}"`)).toBe('モデル.safetensors');
  });

  it('falls back to filename when filename* is malformed', () => {
    expect(filenameFromContentDisposition(`attachment; filename*=garbage; filename="ok.bin"`)).toBe('ok.bin');
  });

  it('returns undefined without a filename', () => {
    expect(filenameFromContentDisposition(undefined)).toBeUndefined();
    expect(filenameFromContentDisposition('inline')).toBeUndefined();
    expect(filenameFromContentDisposition('attachment; filename=""')).toBeUndefined();
  });
});
