import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { summarize, type BatchSummary } from '../../src/batch/summary.js';
import { PlainReporter } from '../../src/cli/reporter/plain.js';
import { progressEveryMs } from '../../src/cli/reporter/choose.js';
import { JsonEventStream } from '../../src/report/json-events.js';
import { metricsText, readLastSuccess, writeMetricsFile } from '../../src/report/metrics.js';
import { notifyPayload, notifyText, sendNotify } from '../../src/report/notify.js';
import { parseExposition } from '../helpers/exposition.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const base = summarize({ items: [], interrupted: false, startedAt: new Date(0), elapsedMs: 1234 });
const summary: BatchSummary = {
  ...base,
  total: 3,
  success: 2,
  failed: 1,
  bytes: 1_000_000,
  failuresByCode: { 'not-found': 1 },
  origins: [
    { origin: 'https://civitai.com', requests: 7, throttled: { '429': 2 }, waitedMs: 61_500, learnedRequestsPerMinute: 30 },
    // An origin name is untrusted text (it comes from a history row): quotes, backslashes and newlines must be escaped.
    { origin: 'http://we"ird\\host\nx', requests: 1, throttled: { '503': 1 }, waitedMs: 0, learnedRequestsPerMinute: null },
  ],
};

afterEach(() => {
  vi.useRealTimers();
});

describe('metrics textfile', () => {
  it('is valid exposition format, every metric a gauge with HELP and TYPE, label values escaped', () => {
    const text = metricsText({ endedAt: new Date(1_700_000_000_250), succeeded: false, summary }, 1_690_000_000);
    const m = parseExposition(text);
    for (const type of m.types.values()) expect(type).toBe('gauge');
    expect(m.value('dlr_last_run_timestamp_seconds')).toBe(1_700_000_000.25);
    expect(m.value('dlr_last_success_timestamp_seconds')).toBe(1_690_000_000);
    expect(m.value('dlr_run_duration_seconds')).toBe(1.234);
    expect(m.value('dlr_run_files', { outcome: 'failed' })).toBe(1);
    expect(m.value('dlr_run_http_responses', { origin: 'https://civitai.com', status: '429' })).toBe(2);
    expect(m.value('dlr_run_http_responses', { origin: 'https://civitai.com', status: '503' })).toBe(0);
    expect(m.value('dlr_run_http_responses', { origin: 'http://we"ird\\host\nx', status: '503' })).toBe(1);
    expect(m.value('dlr_run_limiter_wait_seconds', { origin: 'https://civitai.com' })).toBe(61.5);
    // Every metric name follows the conventions: dlr_ prefix, a unit suffix where there is a unit.
    for (const name of m.types.keys()) expect(name).toMatch(/^dlr_[a-z_]+$/);
  });

  it('a success sets the last success to now; with none ever seen it is 0 (so "no success for 36h" fires)', () => {
    const now = new Date(1_700_000_000_000);
    expect(parseExposition(metricsText({ endedAt: now, succeeded: true, summary }, 1)).value('dlr_last_success_timestamp_seconds')).toBe(1_700_000_000);
    expect(parseExposition(metricsText({ endedAt: now, succeeded: false, summary: undefined }, undefined)).value('dlr_last_success_timestamp_seconds')).toBe(0);
  });

  it('reads the last success back from an earlier file, and nothing from a file that is not ours', async () => {
    const tmp = await makeTempDir('dlr-metrics-');
    try {
      const path = join(tmp.path, 'dlr.prom');
      expect(await readLastSuccess(path)).toBeUndefined();
      await writeFile(path, 'garbage\n\0\0\ndlr_last_success_timestamp_seconds NaN\n');
      expect(await readLastSuccess(path)).toBeUndefined();
      await writeMetricsFile(path, { endedAt: new Date(1_700_000_000_000), succeeded: true, summary });
      expect(await readLastSuccess(path)).toBe(1_700_000_000);
      await writeMetricsFile(path, { endedAt: new Date(1_800_000_000_000), succeeded: false, summary: undefined, elapsedMs: 5 });
      const m = parseExposition(await import('node:fs/promises').then((fs) => fs.readFile(path, 'utf8')));
      expect(m.value('dlr_last_success_timestamp_seconds')).toBe(1_700_000_000);
      expect(m.value('dlr_last_run_timestamp_seconds')).toBe(1_800_000_000);
    } finally {
      await tmp.cleanup();
    }
  });
});

describe('notify', () => {
  it('the text names the failures without credentials, and stays under Discord\'s 2000 characters', () => {
    const failedFiles = Array.from({ length: 30 }, (_, i) => ({
      name: `f${i}.safetensors`,
      code: 'http-5xx',
      message: `HTTP 502 from https://bob:pw123@cdn.example/x?token=SECRET&X-Amz-Signature=SIG ${'x'.repeat(300)}`,
    }));
    const text = notifyText({ command: 'redownload', outcome: 'failed', exitCode: 1, summary, failedFiles, failuresCsv: '/h/failures.csv' }, 'host1');
    expect(text).toMatch(/^dlr redownload on host1: 1 of 3 failed \(not-found 1\)/);
    expect(text).toMatch(/f0\.safetensors \[http-5xx\]/);
    expect(text).toMatch(/and 20 more/);
    expect(text.length).toBeLessThanOrEqual(1800);
    for (const secret of ['pw123', 'SECRET', 'SIG ', 'bob']) expect(text).not.toContain(secret);
    const payload = notifyPayload({ command: 'redownload', outcome: 'error', exitCode: 75, summary: undefined, error: 'locked by https://u:p@h/x' }, 'host1');
    expect(payload).toMatchObject({ text: expect.stringMatching(/stopped with an error/), content: expect.any(String), summary: null, dlr: { outcome: 'error', exitCode: 75 } });
    expect(JSON.stringify(payload)).not.toContain('u:p@');
  });

  it('a hook that never answers is given up on after the timeout, as a warning', async () => {
    const server = createServer(() => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/secret-path`;
      const started = performance.now();
      const warning = await sendNotify(url, { text: 'x' }, { timeoutMs: 300 });
      // Generous bound: the point is that it ends near the timeout, not after undici's default minutes.
      expect(performance.now() - started).toBeLessThan(5_000);
      expect(warning).toMatch(/^notify to http:\/\/127\.0\.0\.1:\d+ failed: no answer in 0\.3s/);
      expect(warning).not.toContain('secret-path');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('--json events', () => {
  it('progress goes out at most once per interval per file', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(0);
    const lines: string[] = [];
    const stream = new JsonEventStream((line) => lines.push(line), { progressEveryMs: 1000 });
    const progress = (bytes: number) =>
      stream.event({ type: 'item-progress', index: 1, total: 1, event: { type: 'progress', path: '/m/a', bytes, total: 100, bytesPerSec: 10 } });
    stream.event({ type: 'item-progress', index: 1, total: 1, event: { type: 'transfer', path: '/m/a', offset: 0, total: 100 } });
    progress(10);
    vi.setSystemTime(999);
    progress(20);
    vi.setSystemTime(1000);
    progress(30);
    vi.setSystemTime(1500);
    progress(40);
    const events = lines.map((l) => JSON.parse(l));
    expect(events).toEqual([expect.objectContaining({ type: 'progress', bytes: 30, size: 100 })]);
  });
});

describe('plain heartbeat', () => {
  it('logs a transfer\'s progress once per interval, and never by default within minutes', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(0);
    let out = '';
    const stream = new Writable({
      write(chunk, _enc, cb) {
        out += String(chunk);
        cb();
      },
    });
    const reporter = new PlainReporter({ stream, quiet: false, color: false, progressEveryMs: progressEveryMs({ DLR_PROGRESS_INTERVAL: '2' }) });
    const item = { index: 3, total: 40 };
    reporter.event({ type: 'transfer', path: '/m/big.safetensors', offset: 0, total: 6.5 * 2 ** 30 }, item);
    for (let t = 0; t <= 5000; t += 500) {
      vi.setSystemTime(t);
      reporter.event({ type: 'progress', path: '/m/big.safetensors', bytes: 1.2 * 2 ** 30, total: 6.5 * 2 ** 30, bytesPerSec: 12 * 2 ** 20 }, item);
    }
    reporter.close();
    const beats = out.split('\n').filter((l) => l.includes(' progress '));
    expect(beats).toHaveLength(2);
    expect(beats[0]).toMatch(/ \[3\/40\] progress big\.safetensors 1\.2 GiB\/6\.5 GiB 12\.0 MiB\/s$/);
    expect(progressEveryMs({})).toBe(5 * 60_000);
  });
});

describe('config keys', () => {
  it('metrics_file resolves beside the config; a bad notify_url is refused without being quoted; notify_on is failure or always', async () => {
    const { loadConfig } = await import('../../src/config/load-config.js');
    const tmp = await makeTempDir('dlr-opcfg-');
    try {
      const file = join(tmp.path, 'c.json');
      const load = async (extra: Record<string, unknown>) => {
        await writeFile(file, JSON.stringify(extra));
        return loadConfig({ explicitPath: file, env: { HOME: tmp.path }, cwd: tmp.path });
      };
      const ok = await load({ metrics_file: 'm/dlr.prom', notify_url: 'https://hooks.example/T/B/SECRET', notify_on: 'always' });
      expect(ok).toMatchObject({ metricsFile: join(tmp.path, 'm/dlr.prom'), notifyUrl: 'https://hooks.example/T/B/SECRET', notifyOn: 'always' });
      await expect(load({ notify_url: 'ftp://hooks.example/SECRET' })).rejects.toThrow(/notify_url must be an http\(s\) URL, got a string$/);
      await expect(load({ notify_url: 'ftp://hooks.example/SECRET' })).rejects.not.toThrow(/SECRET/);
      await expect(load({ notify_on: 'sometimes' })).rejects.toThrow(/notify_on must be "failure" or "always"/);
    } finally {
      await tmp.cleanup();
    }
  });
});
