import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { chooseReporter } from '../../src/cli/reporter/choose.js';
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
    reporter.setItem(2, 5);
    reporter.begin('https://h/x?token=SECRET');
    reporter.event({ type: 'retry', retry: 1, delayMs: 60_000, code: 'rate-limited', message: 'HTTP 429 Too Many Requests' });
    reporter.end(failed);
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
    expect(out.text()).not.toContain('chatter');
    expect(out.text()).toContain('fail ');
    expect(out.text()).toContain('summary: finished');
  });
});
