import { describe, expect, it } from 'vitest';
import { parseHubUrl } from '../../src/sources/huggingface.js';
import { pickSource } from '../../src/sources/resolve-source.js';

const parse = (path: string) => parseHubUrl(new URL(`https://huggingface.co${path}`));

describe('parseHubUrl', () => {
  it('reads a branch, a commit and a nested path', () => {
    expect(parse('/org/m/resolve/main/onnx/model.onnx')).toMatchObject({ repo: 'org/m', revision: 'main', path: 'onnx/model.onnx', filename: 'model.onnx' });
    expect(parse('/datasets/org/d/blob/9d83ecf0a1b2c3d4e5f60718293a4b5c6d7e8f90/a.csv')).toMatchObject({ kindPrefix: 'datasets/', repo: 'org/d', revision: '9d83ecf0a1b2c3d4e5f60718293a4b5c6d7e8f90' });
  });

  it.each([
    ['/org/m/resolve/refs/pr/1/onnx/model.onnx', 'refs/pr/1', 'onnx/model.onnx'],
    ['/org/m/resolve/refs%2Fpr%2F12/model.onnx', 'refs/pr/12', 'model.onnx'],
    ['/datasets/org/d/resolve/refs/convert/parquet/default/train/0000.parquet', 'refs/convert/parquet', 'default/train/0000.parquet'],
  ])('reads %s as one revision with a slash in it', (path, revision, file) => {
    expect(parse(path)).toMatchObject({ revision, path: file });
  });

  it('decodes the file name and keeps the path as it was encoded', () => {
    expect(parse('/org/m/resolve/main/dir/my%20model.onnx')).toMatchObject({ path: 'dir/my%20model.onnx', filename: 'my model.onnx' });
  });

  it.each([['/org/m/resolve/main/bad%E0%A4.bin'], ['/org/m/resolve/ma%zzin/x.bin'], ['/org/m/resolve/refs/pr/1']])(
    'refuses %s as an invalid row with a one-line message',
    (path) => {
      let caught: unknown;
      try {
        parse(path);
      } catch (error) {
        caught = error;
      }
      expect(caught).toMatchObject({ code: 'invalid-row' });
      expect((caught as Error).message).not.toContain('\n');
    },
  );
});

describe('pickSource', () => {
  const shared = { civitaiBaseUrl: 'http://127.0.0.1:8000', hfEndpoint: 'http://127.0.0.1:8000' };
  it('tells the two sites apart by path when they share one origin', () => {
    expect(pickSource(new URL('http://127.0.0.1:8000/org/repo/resolve/main/w.safetensors'), shared)).toBe('huggingface');
    expect(pickSource(new URL('http://127.0.0.1:8000/org/repo/blob/main/w.safetensors'), shared)).toBe('huggingface');
    expect(pickSource(new URL('http://127.0.0.1:8000/api/download/models/5'), shared)).toBe('civitai');
    expect(pickSource(new URL('http://127.0.0.1:8000/models/5?modelVersionId=6'), shared)).toBe('civitai');
  });

  it('goes by host or configured origin otherwise', () => {
    const apart = { civitaiBaseUrl: 'http://127.0.0.1:8001', hfEndpoint: 'http://127.0.0.1:8002' };
    expect(pickSource(new URL('https://civitai.com/models/5'), apart)).toBe('civitai');
    expect(pickSource(new URL('https://huggingface.co/a/b/resolve/main/c'), apart)).toBe('huggingface');
    expect(pickSource(new URL('http://127.0.0.1:8002/a/b/resolve/main/c'), apart)).toBe('huggingface');
    expect(pickSource(new URL('http://127.0.0.1:8003/file.bin'), apart)).toBe('direct');
  });
});
