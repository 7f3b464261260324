import { describe, expect, it } from 'vitest';
import { policyFromFlags, parseHeader } from '../../src/cli/parse-flags.js';
import { checkModelTypeFlag } from '../../src/cli/model-type-flag.js';
import { ConfigError, UsageError } from '../../src/errors.js';
import { DEFAULT_POLICY, resolvePolicy } from '../../src/options.js';
import { formatBytes, formatDuration, parseByteSize, parseSeconds } from '../../src/util/units.js';

describe('resolvePolicy', () => {
  it('defaults to the seed plan', () => {
    const p = resolvePolicy();
    expect(p.retryDelaysMs).toEqual([60_000, 180_000, 300_000]);
    expect(p.speedFloorBytesPerSec).toBe(10 * 1024);
    expect(p.speedWindowMs).toBe(30_000);
    expect(p).toEqual(DEFAULT_POLICY);
  });

  it('rejects negative or non-finite values, naming the key', () => {
    expect(() => resolvePolicy({ retryDelaysMs: [1, -1] })).toThrow(/retryDelaysMs\[1\]/);
    expect(() => resolvePolicy({ speedWindowMs: Number.NaN })).toThrow(ConfigError);
    expect(() => resolvePolicy({ idleTimeoutMs: 0 })).toThrow(/idleTimeoutMs/);
    expect(() => resolvePolicy({ maxRedirects: 1.5 })).toThrow(/maxRedirects/);
    expect(() => resolvePolicy({ retryDelaysMs: [2 ** 40] })).toThrow(/at most/);
    expect(() => resolvePolicy({ writeBufferBytes: 100 })).toThrow(/writeBufferBytes/);
    expect(() => resolvePolicy({ writeBufferBytes: 2 ** 32 })).toThrow(/writeBufferBytes must be a whole number from 1024 to/);
    expect(() => resolvePolicy({ syncEveryBytes: -1 })).toThrow(/syncEveryBytes/);
    expect(() => resolvePolicy({ collectEveryBytes: 0.5 })).toThrow(/collectEveryBytes/);
  });

  it('lets the disk-flush and collection intervals be turned off with 0', () => {
    const p = resolvePolicy({ syncEveryBytes: 0, collectEveryBytes: 0 });
    expect(p.syncEveryBytes).toBe(0);
    expect(p.collectEveryBytes).toBe(0);
  });

  it('keeps sampling at least four times per speed window', () => {
    expect(resolvePolicy({ speedWindowMs: 100, sampleIntervalMs: 250 }).sampleIntervalMs).toBe(25);
  });
});

describe('policyFromFlags', () => {
  it('converts seconds and sizes once', () => {
    expect(policyFromFlags({ retryDelays: '0.05,1,2.5', speedFloor: '10KiB', speedWindow: '0.2', timeout: '3', connectTimeout: '1.5' })).toMatchObject({
      retryDelaysMs: [50, 1000, 2500],
      speedFloorBytesPerSec: 10_240,
      speedWindowMs: 200,
      idleTimeoutMs: 3000,
      connectTimeoutMs: 1500,
    });
  });

  it('accepts an empty retry list (no retries)', () => {
    expect(policyFromFlags({ retryDelays: '' }).retryDelaysMs).toEqual([]);
  });

  it.each([
    [{ retryDelays: '60,x' }, /--retry-delays/],
    [{ retryDelays: '-1' }, /--retry-delays/],
    [{ speedFloor: 'fast' }, /--speed-floor/],
    [{ speedWindow: '-3' }, /--speed-window/],
    [{ timeout: '1e3' }, /--timeout/],
    [{ maxRedirects: 'ten' }, /--max-redirects/],
  ])('rejects %j naming the flag', (flags, message) => {
    expect(() => policyFromFlags(flags)).toThrow(UsageError);
    expect(() => policyFromFlags(flags)).toThrow(message);
  });
});

describe('units', () => {
  it('parses sizes', () => {
    expect(parseByteSize('10KiB')).toBe(10_240);
    expect(parseByteSize('10kb')).toBe(10_000);
    expect(parseByteSize('1.5MiB/s')).toBe(1_572_864);
    expect(parseByteSize('0')).toBe(0);
    expect(parseByteSize('10 parsecs')).toBeUndefined();
  });

  it('parses seconds', () => {
    expect(parseSeconds('0.001')).toBe(1);
    expect(parseSeconds('abc')).toBeUndefined();
  });

  it('formats for people', () => {
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(12)).toBe('12 B');
    expect(formatDuration(2500)).toBe('2.5s');
    expect(formatDuration(61_000)).toBe('1m01s');
    expect(formatDuration(3_661_000)).toBe('1h01m01s');
  });
});

describe('parseHeader', () => {
  it('splits name and value', () => {
    expect(parseHeader('Authorization: Bearer x')).toEqual(['authorization', 'Bearer x']);
  });

  it('rejects malformed headers and header injection', () => {
    expect(() => parseHeader('no colon')).toThrow(UsageError);
    expect(() => parseHeader('X-A: b\r\nX-B: c')).toThrow(UsageError);
  });
});

describe('--type', () => {
  it('takes dlr\'s types, their aliases and Civitai\'s type names, normalized', () => {
    expect(checkModelTypeFlag('LoCon', [])).toBe('lora');
    expect(checkModelTypeFlag('Textual Inversion', [])).toBe('embedding');
    expect(checkModelTypeFlag('checkpoint', [])).toBe('checkpoint');
    expect(checkModelTypeFlag('MotionModule', [])).toBe('motionmodule');
  });

  it('refuses a typo with a usage error that lists the known types, the configured ones included', () => {
    expect(() => checkModelTypeFlag('lroa', [])).toThrow(UsageError);
    expect(() => checkModelTypeFlag('lroa', ['default', 'my_folder'])).toThrow(/unknown model type 'lroa'; known: checkpoint, lora, embedding, .*, my_folder \(/);
    expect(() => checkModelTypeFlag('  ', [])).toThrow(/unknown model type/);
  });

  it('counts a download_paths key of the config as known', () => {
    expect(checkModelTypeFlag('my_folder', ['checkpoint', 'my_folder', 'default'])).toBe('my_folder');
    expect(() => checkModelTypeFlag('default', ['default'])).toThrow(UsageError);
  });
});
