import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { NoticeRoute } from '../../src/cli/io.js';
import { chooseReporter } from '../../src/cli/reporter/choose.js';
import { describeResult } from '../../src/cli/reporter/describe.js';
import { rateFields } from '../../src/cli/reporter/tty.js';
import { formatBytes } from '../../src/util/units.js';
import type { DownloadResult } from '../../src/engine/types.js';

function sink(isTTY: boolean) {
  let text = '';
  const stream = Object.assign(
    new Writable({
      write(chunk, _enc, cb) {
        text += String(chunk);
        cb();
      },
    }),
    { isTTY, columns: 80 },
  );
  return { stream, text: () => text };
}

const failed: DownloadResult = {
  status: 'failed',
  url: 'https://h/x?token=***',
  path: '/m/x.safetensors',
  attempts: 1,
  retries: 0,
  bytesFetched: 0,
  durationMs: 5,
  error: { code: 'not-found', message: 'HTTP 404 Not Found' },
};

describe('chooseReporter', () => {
  it('writes plain timestamped lines without ANSI or carriage returns when not on a terminal', async () => {
    const out = sink(false);
    const reporter = await chooseReporter(out.stream, {}, false);
    const item = { index: 2, total: 5 };
    reporter.begin('https://h/x?token=SECRET', item);
    reporter.event({ type: 'retry', retry: 1, delayMs: 60_000, code: 'rate-limited', message: 'HTTP 429 Too Many Requests' }, item);
    reporter.end(failed, item);
    reporter.close();
    const lines = out.text().trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z \[2\/5\] /);
    expect(out.text()).not.toMatch(/\u001b|\r/);
    expect(out.text()).not.toContain('SECRET');
    expect(lines[1]).toContain('retry 1 in 1m00s [rate-limited] HTTP 429');
    expect(lines[2]).toContain('fail /m/x.safetensors [not-found] HTTP 404 Not Found');
  });

  it('colours outcome lines on a terminal, and not with NO_COLOR', async () => {
    const colored = sink(true);
    const r1 = await chooseReporter(colored.stream, { TERM: 'xterm' }, false);
    r1.end(failed);
    r1.close();
    expect(colored.text()).toContain('\u001b[31m');

    const plain = sink(true);
    const r2 = await chooseReporter(plain.stream, { TERM: 'xterm', NO_COLOR: '1' }, false);
    r2.end(failed);
    r2.close();
    expect(plain.text()).toContain('fail /m/x.safetensors');
    expect(plain.text()).not.toContain('\u001b[31m');
  });

  it('keeps failures and notices under --quiet, drops the rest', async () => {
    const out = sink(false);
    const reporter = await chooseReporter(out.stream, {}, true);
    reporter.begin('https://h/x');
    reporter.info('chatter');
    reporter.end(failed);
    reporter.notice('summary: finished');
    // Plain lines of one turn of the event loop go out together; close() flushes them.
    reporter.close();
    expect(out.text()).not.toContain('chatter');
    expect(out.text()).toContain('fail ');
    expect(out.text()).toContain('summary: finished');
  });
});

describe('what a resumed file reports', () => {
  const MiB = 1024 * 1024;
  const done: DownloadResult = { status: 'done', url: 'u', path: '/m/big.safetensors', attempts: 1, retries: 0, bytesFetched: 92 * MiB, durationMs: 6_000, size: 400 * MiB, verified: true };

  it('gives where it resumed, what this run fetched, and the speed of those bytes', () => {
    expect(describeResult(done, 308 * MiB)).toBe(
      `done /m/big.safetensors ${formatBytes(400 * MiB)}, resumed from ${formatBytes(308 * MiB)}: fetched ${formatBytes(92 * MiB)} in 6.0s (${formatBytes(Math.round((92 * MiB) / 6))}/s)`,
    );
  });

  it('says what was fetched when it differs from the size even without a resume', () => {
    expect(describeResult({ ...done, bytesFetched: 400 * MiB })).toBe(`done /m/big.safetensors ${formatBytes(400 * MiB)} in 6.0s (${formatBytes(Math.round((400 * MiB) / 6))}/s)`);
    expect(describeResult({ ...done, bytesFetched: 0 })).toContain(`(fetched 0 B) in 6.0s`);
  });

  it('prints the resume offset and the resumed done line in the plain log', async () => {
    const out = sink(false);
    const reporter = await chooseReporter(out.stream, {}, false);
    reporter.begin('https://h/big');
    reporter.event({ type: 'transfer', path: '/m/big.safetensors', offset: 308 * MiB, total: 400 * MiB });
    reporter.event({ type: 'transfer', path: '/m/big.safetensors', offset: 350 * MiB, total: 400 * MiB });
    reporter.end(done);
    reporter.close();
    const lines = out.text().trimEnd().split('\n');
    expect(lines[1]).toMatch(/ resume \/m\/big\.safetensors from byte 322961408 \(308\.0 MiB\)$/);
    // The done line counts from where this run started, not from a later retry's resume.
    expect(lines[3]).toContain(`resumed from ${formatBytes(308 * MiB)}: fetched`);
  });
});

describe('the bar\'s speed and ETA', () => {
  it('show -- until a rate is known (the start, a stalled or throttled transfer), then the rate and the time left', () => {
    expect(rateFields(0, 1000, 0)).toEqual({ speed: '--/s', etaText: '--' });
    expect(rateFields(500, 1000, 0.2)).toEqual({ speed: '--/s', etaText: '--' });
    expect(rateFields(500, undefined, 2048)).toEqual({ speed: '2.0 KiB/s', etaText: '--' });
    expect(rateFields(0, 100 * 1024, 2048)).toEqual({ speed: '2.0 KiB/s', etaText: '50s' });
  });
});

describe('the signal notice', () => {
  it('goes to the open reporter (which stops drawing first), and straight out once it is closed', async () => {
    const direct: string[] = [];
    const notices = new NoticeRoute((text) => direct.push(text));
    const out = sink(true);
    const reporter = await chooseReporter(out.stream, { TERM: 'xterm', NO_COLOR: '1' }, false, notices);
    reporter.begin('https://h/x');
    reporter.event({ type: 'transfer', path: '/m/x.bin', offset: 0, total: 1000 });
    reporter.event({ type: 'progress', path: '/m/x.bin', bytes: 100, total: 1000, bytesPerSec: 0 });
    // Let the live line be drawn (it is drawn on a timer), then stop.
    await new Promise((r) => setTimeout(r, 250));
    expect(out.text()).toMatch(/\u2588|\u2591/);
    notices.say('SIGINT: stopping');
    // No new bar after the notice, even when progress still comes in.
    const afterNotice = out.text().length;
    reporter.event({ type: 'progress', path: '/m/x.bin', bytes: 200, total: 1000, bytesPerSec: 100 });
    expect(out.text().slice(afterNotice)).toBe('');
    // The live lines are cleared (back to their first line, erase to the end of the screen) and the cursor shown before the notice.
    expect(out.text()).toMatch(/\r(\u001b\[\d+A)?\u001b\[0J\u001b\[\?25hSIGINT: stopping\n$/);
    expect(direct).toEqual([]);
    reporter.close();
    notices.say('SIGTERM: stopping');
    expect(direct).toEqual(['SIGTERM: stopping']);
  });
});
