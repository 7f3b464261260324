import { describe, expect, it } from 'vitest';
import { compileGlob, globMatches, pathFilter } from '../../src/pull/glob.js';
import { formatLockFile, type LockedPull } from '../../src/pull/lock-file.js';
import { localPathFor, localPaths, unsafeRepoPath } from '../../src/pull/repo-path.js';
import { parsePullSpec } from '../../src/pull/spec.js';

const HUB = 'https://huggingface.co';
const match = (pattern: string, path: string) => globMatches(compileGlob(pattern), path);

describe('glob (fnmatch-like, as huggingface_hub allow_patterns)', () => {
  it.each([
    ['*.json', 'config.json', true],
    ['*.json', 'sub/dir/config.json', true], // `*` crosses `/`, as fnmatch
    ['onnx/*', 'onnx/model.onnx', true],
    ['onnx/*', 'onnx/sub/model.onnx', true],
    ['onnx/', 'onnx/model.onnx', true], // a folder: everything under it
    ['onnx/', 'onnxx/model.onnx', false],
    ['**/*.onnx', 'onnx/model.onnx', true],
    ['model.onnx', 'onnx/model.onnx', false], // whole path, not a suffix
    ['model-?????-of-00002.safetensors', 'model-00001-of-00002.safetensors', true],
    ['model-?????-of-00002.safetensors', 'model-0001-of-00002.safetensors', false],
    ['[a-c]*.bin', 'b.bin', true],
    ['[!a-c]*.bin', 'b.bin', false],
    ['[^a-c]*.bin', 'd.bin', true],
    ['[]x].txt', '].txt', true],
    ['[abc', '[abc', true], // no closing bracket: a plain `[`
    ['*.JSON', 'config.json', false], // case-sensitive
    ['*', '', true],
    ['a*b*c', 'axxbyyc', true],
    ['a*b*c', 'axxbyy', false],
  ])('%s vs %s → %s', (pattern, path, expected) => {
    expect(match(pattern, path)).toBe(expected);
  });

  it('stays linear on a pathological pattern and path (bounded by pattern × path)', () => {
    const pattern = `${'*a'.repeat(100)}b`;
    const path = 'a'.repeat(1024);
    const started = performance.now();
    expect(match(pattern, path)).toBe(false);
    // Generous: the bound is ~200 × 1024 steps; exponential backtracking would never finish.
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('refuses oversized or too many patterns as usage errors', () => {
    expect(() => compileGlob('x'.repeat(257))).toThrow(/at most 256/);
    expect(() => pathFilter(Array.from({ length: 33 }, () => '*'), [])).toThrow(/at most 32/);
    expect(() => compileGlob('')).toThrow(/needs a pattern/);
  });

  it('include is any-of (default all), exclude wins', () => {
    const f = pathFilter(['*.json', 'onnx/'], ['*quantized*']);
    expect(['config.json', 'onnx/model.onnx', 'onnx/model_quantized.onnx', 'model.bin'].filter((p) => f.test(p))).toEqual(['config.json', 'onnx/model.onnx']);
    expect(pathFilter([], []).test('anything/at/all')).toBe(true);
  });
});

describe('repository paths under the folder', () => {
  it.each([
    ['../x', "a '..' component"],
    ['a/../../x', "a '..' component"],
    ['./x', "a '.' component"],
    ['/etc/passwd', 'an absolute path'],
    ['C:/x', 'an absolute path'],
    ['a\\..\\x', 'a backslash in the path'],
    ['a//b', 'an empty path component'],
    ['a/b/', 'an empty path component'],
    ['x'.repeat(1025), 'a path over 1024 characters'],
    [Array.from({ length: 33 }, () => 'a').join('/'), 'more than 32 folders deep'],
    ['a\u0000b', 'a control character in the path'],
    ['', 'an empty path'],
  ])('refuses %j', (path, why) => {
    expect(unsafeRepoPath(path)).toBe(why);
    expect(() => localPathFor(path)).toThrow(/refusing/);
  });

  it('keeps folders and makes each component safe like every other name', () => {
    expect(localPathFor('onnx/model.onnx')).toBe('onnx/model.onnx');
    expect(localPathFor('.gitattributes')).toBe('.gitattributes');
    expect(localPathFor('ab:c/CON.txt')).toBe('ab_c/_CON.txt');
    expect(localPathFor('x/.dlr.lock')).toBe('x/_.dlr.lock');
    expect(localPathFor('weights.part')).toBe('weights.part_');
  });

  it('refuses two paths that land on one file, or a file where a folder must be', () => {
    expect(() => localPaths(['ab:c', 'ab_c'])).toThrow(/written over/);
    expect(() => localPaths(['Model.bin', 'model.bin'])).toThrow(/written over/);
    expect(() => localPaths(['onnx', 'onnx/model.onnx'])).toThrow(/is a file, not a folder/);
    expect([...localPaths(['a/b', 'a/c']).values()]).toEqual(['a/b', 'a/c']);
  });
});

describe('pull sources', () => {
  it.each([
    ['hf:org/repo', { kind: 'hf', repo: 'org/repo', revision: 'main', source: 'hf:org/repo' }],
    ['hf:org/repo@v1.0', { kind: 'hf', repo: 'org/repo', revision: 'v1.0' }],
    ['hf:gpt2', { kind: 'hf', repo: 'gpt2', revision: 'main' }],
    ['hf:org/repo@refs/pr/1', { kind: 'hf', repo: 'org/repo', revision: 'refs/pr/1' }],
    ['https://huggingface.co/org/repo', { kind: 'hf', repo: 'org/repo', revision: 'main' }],
    ['https://huggingface.co/org/repo/tree/dev', { kind: 'hf', repo: 'org/repo', revision: 'dev' }],
    ['https://huggingface.co/org/repo/tree/refs%2Fpr%2F2', { kind: 'hf', repo: 'org/repo', revision: 'refs/pr/2' }],
    ['https://huggingface.co/org/repo/tree/refs/convert/onnx', { kind: 'hf', repo: 'org/repo', revision: 'refs/convert/onnx' }],
    ['http://127.0.0.1:9/org/repo', { kind: 'hf', repo: 'org/repo' }],
    ['civitai:00123', { kind: 'civitai', versionId: '123', source: 'civitai:123' }],
  ])('%s', (text, expected) => {
    expect(parsePullSpec(text, 'http://127.0.0.1:9')).toMatchObject(expected);
  });

  it.each([
    ['hf:../etc', /not a Hugging Face repository id/],
    ['hf:org/repo/extra', /not a Hugging Face repository id/],
    ['hf:org/repo@', /not a revision/],
    ['civitai:abc', /model version id/],
    ['https://example.com/org/repo', /huggingface.co or HF_ENDPOINT/],
    ['https://huggingface.co/org/repo/tree/main/onnx', /--include 'onnx\/'/],
    ['https://huggingface.co/datasets/org/data', /datasets and spaces/],
    ['org/repo', /hf:ORG\/REPO/],
  ])('refuses %s', (text, message) => {
    expect(() => parsePullSpec(text, HUB)).toThrow(message);
  });
});

describe('lock file text', () => {
  it('is sorted and stable whatever order it was built in', () => {
    const a: LockedPull = {
      source: 'hf:org/b',
      revision: 'main',
      commit: '1'.repeat(40),
      dir: 'models/b',
      include: [],
      exclude: [],
      files: [
        { path: 'z.json', size: 1, gitBlobId: 'a'.repeat(40) },
        { path: 'B.onnx', size: 2, sha256: 'b'.repeat(64) },
        { path: 'a/x.bin', size: 3, sha256: 'c'.repeat(64) },
      ],
    };
    const b: LockedPull = { source: 'civitai:5', dir: 'loras', include: [], exclude: [], files: [{ path: 'l.safetensors', size: 4, sha256: 'd'.repeat(64), id: 500 }] };
    const one = formatLockFile({ pulls: [a, b] });
    const two = formatLockFile({ pulls: [b, { ...a, files: [...a.files].reverse() }] });
    expect(one).toBe(two);
    const parsed = JSON.parse(one);
    expect(parsed.pulls.map((p: LockedPull) => p.dir)).toEqual(['loras', 'models/b']);
    expect(parsed.pulls[1].files.map((f: { path: string }) => f.path)).toEqual(['B.onnx', 'a/x.bin', 'z.json']);
    expect(one.endsWith('}\n')).toBe(true);
  });
});
