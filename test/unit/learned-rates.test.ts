import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readLearnedRates, writeLearnedRates } from '../../src/limiter/learned-rates.js';
import { makeTempDir } from '../helpers/temp-dir.js';

describe('learned rates kept between runs (.dlr-state.json)', () => {
  it('keeps other origins, drops recovered ones, forgets entries older than a week, ignores a foreign file', async () => {
    const dir = await makeTempDir();
    try {
      const path = join(dir.path, '.dlr-state.json');
      const now = Date.parse('2026-12-01T00:00:00Z');
      await writeLearnedRates(path, { 'https://a': 30, 'https://b': 12 }, ['https://a', 'https://b'], new Date(now - 8 * 86_400_000));
      await writeLearnedRates(path, { 'https://c': 5 }, ['https://c'], new Date(now));
      // a and b are a week and a day old: forgotten; c is fresh.
      expect(await readLearnedRates(path, now)).toEqual({ 'https://c': 5 });
      // c recovered this run (visited, no learned rate): removed; the old entries stay in the file until read as stale.
      await writeLearnedRates(path, {}, ['https://c'], new Date(now));
      expect(await readLearnedRates(path, now)).toEqual({});
      expect(JSON.parse(await readFile(path, 'utf8')).origins['https://c']).toBeUndefined();
      await writeFile(path, 'not json');
      expect(await readLearnedRates(path, now)).toEqual({});
    } finally {
      await dir.cleanup();
    }
  });
});
