import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFailuresCsv } from '../../src/batch/failures-csv.js';
import { summarize } from '../../src/batch/summary.js';
import { summaryLines } from '../../src/cli/reporter/summary-lines.js';
import type { BatchItem } from '../../src/batch/types.js';
import type { DownloadResult } from '../../src/engine/types.js';
import { readHistory } from '../../src/history/read-history.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const base = { url: 'u', path: undefined, attempts: 1, retries: 0, bytesFetched: 0, durationMs: 1 };
const item = (result: DownloadResult, filename = 'f.bin', url = 'https://h/f'): BatchItem => ({
  subject: { line: 2, timestamp: 't', modelType: 'LORA', url, filename },
  result,
  finishedAt: new Date('2026-01-01T00:00:00Z'),
});

describe('summarize', () => {
  it('counts outcomes, retries and bytes, and the rate over the files not skipped', () => {
    const summary = summarize({
      items: [
        item({ ...base, status: 'done', size: 10, verified: true, retries: 2, bytesFetched: 10 }),
        item({ ...base, status: 'done', size: 5, verified: false, bytesFetched: 5 }),
        item({ ...base, status: 'skipped', reason: 'exists' }),
        item({ ...base, status: 'failed', retries: 3, error: { code: 'rate-limited', message: 'x' } }),
      ],
      interrupted: false,
      startedAt: new Date(),
      elapsedMs: 1234,
    });
    expect(summary).toMatchObject({
      total: 4,
      success: 2,
      verified: 1,
      skipped: 1,
      failed: 1,
      retries: { total: 5, successful: 1 },
      bytes: 15,
      failuresByCode: { 'rate-limited': 1 },
    });
    expect(summary.successRate).toBeCloseTo(2 / 3);
  });

  it('gives the counts and rate per model type, for the seed\'s checkpoint >= 95 % bar', () => {
    const typed = (type: string, result: DownloadResult): BatchItem => ({ ...item(result), subject: { ...item(result).subject, type } });
    const summary = summarize({
      items: [
        typed('checkpoint', { ...base, status: 'done', size: 1, verified: true }),
        typed('checkpoint', { ...base, status: 'failed', error: { code: 'network', message: 'x' } }),
        typed('checkpoint', { ...base, status: 'skipped', reason: 'exists' }),
        typed('lora', { ...base, status: 'skipped', reason: 'exists' }),
        item({ ...base, status: 'failed', error: { code: 'invalid-row', message: 'x' } }),
      ],
      interrupted: false,
      startedAt: new Date(),
      elapsedMs: 0,
    });
    expect(summary.byType).toEqual({
      checkpoint: { total: 3, success: 1, skipped: 1, failed: 1, notStarted: 0, successRate: 0.5 },
      lora: { total: 2, success: 0, skipped: 1, failed: 1, notStarted: 0, successRate: 0 },
    });
  });

  it('counts the files a signal kept from their turn apart: not failed, not in the rate, still in the failures CSV', async () => {
    const unstarted: BatchItem = {
      ...item({ ...base, attempts: 0, status: 'failed', error: { code: 'interrupted', message: 'not started: interrupted' } }, 'later.bin'),
      notStarted: true,
    };
    const outcome = {
      items: [
        item({ ...base, status: 'done', size: 1, verified: false, bytesFetched: 1 }),
        item({ ...base, status: 'failed', error: { code: 'interrupted', message: 'interrupted' } }, 'current.bin'),
        unstarted,
        { ...unstarted, subject: { ...unstarted.subject, filename: 'last.bin' } },
      ],
      interrupted: true,
      startedAt: new Date(),
      elapsedMs: 0,
    };
    const summary = summarize(outcome);
    expect(summary).toMatchObject({ total: 4, success: 1, failed: 1, notStarted: 2, failuresByCode: { interrupted: 1 } });
    expect(summary.successRate).toBe(0.5);
    expect(summary.byType.lora).toMatchObject({ total: 4, failed: 1, notStarted: 2, successRate: 0.5 });
    const lines = summaryLines(summary);
    expect(lines).toContain('  failed    1 (interrupted 1)');
    expect(lines.find((l) => l.startsWith('  not started '))).toMatch(/^ {2}not started 2 \(/);
    expect(lines.find((l) => l.includes('success rate'))).toMatch(/50\.0%/);
    const tmp = await makeTempDir();
    const path = join(tmp.path, 'failures.csv');
    expect(await writeFailuresCsv(path, outcome.items)).toBe(3);
    expect(await readFile(path, 'utf8')).toMatch(/later\.bin,interrupted,not started: interrupted,0,/);
    await tmp.cleanup();
  });

  it('has no rate (not a division by zero) when a signal stopped the run before the first file', () => {
    const summary = summarize({
      items: [{ ...item({ ...base, attempts: 0, status: 'failed', error: { code: 'interrupted', message: 'not started: interrupted' } }), notStarted: true }],
      interrupted: true,
      startedAt: new Date(),
      elapsedMs: 0,
    });
    expect(summary).toMatchObject({ failed: 0, notStarted: 1, successRate: null });
  });

  it('has no rate (not a division by zero) when everything was skipped', () => {
    const summary = summarize({ items: [item({ ...base, status: 'skipped', reason: 'exists' })], interrupted: false, startedAt: new Date(), elapsedMs: 0 });
    expect(summary.successRate).toBeNull();
  });
});

describe('writeFailuresCsv', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    dir = await makeTempDir();
  });
  afterEach(async () => {
    await dir.cleanup();
  });

  it('writes the history columns plus the error, defusing spreadsheet formulas, and reads back as a history', async () => {
    const path = join(dir.path, 'failures.csv');
    const count = await writeFailuresCsv(path, [
      item({ ...base, status: 'done', size: 1, verified: false }),
      item({ ...base, attempts: 4, status: 'failed', error: { code: 'not-found', message: 'HTTP 404 Not Found' } }, '=HYPERLINK("x").bin'),
      item({ ...base, attempts: 0, status: 'failed', error: { code: 'invalid-row', message: 'line 3: empty URL' } }, '@x.bin', ''),
    ]);
    expect(count).toBe(2);
    const text = await readFile(path, 'utf8');
    expect(text.split('\n')[0]).toBe('timestamp,model_type,url,filename,error_code,error_message,attempts,last_attempt_at');
    expect(text).toContain(`"'=HYPERLINK(""x"").bin"`);
    expect(text).toContain("'@x.bin");
    expect(text).toContain('not-found,HTTP 404 Not Found,4,2026-01-01T00:00:00.000Z');
    const back = await readHistory(path);
    expect(back.rows.map((r) => r.filename)).toEqual(['=HYPERLINK("x").bin']);
    expect(back.invalid).toHaveLength(1);
  });

  it('removes the previous failures CSV when nothing failed', async () => {
    const path = join(dir.path, 'failures.csv');
    await writeFailuresCsv(path, [item({ ...base, status: 'failed', error: { code: 'network', message: 'x' } })]);
    expect((await stat(path)).isFile()).toBe(true);
    expect(await writeFailuresCsv(path, [item({ ...base, status: 'done', size: 1, verified: false })])).toBe(0);
    await expect(stat(path)).rejects.toThrow();
  });
});
