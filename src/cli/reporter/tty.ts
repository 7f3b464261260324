import { basename } from 'node:path';
import cliProgress from 'cli-progress';
import { Chalk, type ChalkInstance } from 'chalk';
import type { DownloadEvent, DownloadResult } from '../../engine/types.js';
import { redactUrl } from '../../http/credentials.js';
import { formatBytes, formatDuration } from '../../util/units.js';
import { describeResult, describeRetry } from './describe.js';
import type { Reporter, ReporterOptions } from './reporter.js';

/** For a person at a terminal: one live bar for the current file, coloured outcome lines. */
export class TtyReporter implements Reporter {
  readonly #opts: ReporterOptions;
  readonly #chalk: ChalkInstance;
  #bar: cliProgress.SingleBar | undefined;
  #countdown: NodeJS.Timeout | undefined;
  #name = '';
  #prefix = '';

  constructor(opts: ReporterOptions) {
    this.#opts = opts;
    this.#chalk = new Chalk({ level: opts.color ? 1 : 0 });
  }

  setItem(index: number, total: number): void {
    this.#prefix = `[${index}/${total}]`;
  }

  pause(ms: number): void {
    if (!this.#opts.quiet) this.#print(this.#chalk.dim(`pause ${formatDuration(ms)} before the next file`));
  }

  #stopBar(): void {
    this.#bar?.stop();
    this.#bar = undefined;
    this.#stopCountdown();
  }

  /** A live "next try in Ns" line while a retry waits, so a person sees it is not stuck. */
  #startCountdown(delayMs: number): void {
    const until = Date.now() + delayMs;
    const draw = () => {
      const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      this.#opts.stream.write(`\r\u001b[2K${this.#chalk.dim(`  next try in ${left}s`)}`);
    };
    draw();
    this.#countdown = setInterval(draw, 1000);
    this.#countdown.unref();
  }

  #stopCountdown(): void {
    if (this.#countdown === undefined) return;
    clearInterval(this.#countdown);
    this.#countdown = undefined;
    this.#opts.stream.write('\r\u001b[2K');
  }

  /** A line above the bar; the next progress event draws a fresh bar below it. */
  #print(text: string): void {
    this.#stopBar();
    this.#opts.stream.write(`${text}\n`);
  }

  begin(label: string): void {
    this.#name = redactUrl(label);
  }

  event(event: DownloadEvent): void {
    if (this.#opts.quiet) return;
    switch (event.type) {
      case 'transfer':
        this.#name = basename(event.path);
        this.#startBar(event.total ?? 0, event.offset);
        break;
      case 'progress':
        if (!this.#bar) this.#startBar(event.total ?? 0, event.bytes);
        if (event.total !== undefined && this.#bar?.getTotal() !== event.total) this.#bar?.setTotal(event.total);
        this.#bar?.update(event.bytes, {
          bytes: formatBytes(event.bytes),
          totalText: event.total === undefined ? '?' : formatBytes(event.total),
          speed: `${formatBytes(Math.round(event.bytesPerSec))}/s`,
        });
        break;
      case 'retry':
        this.#stopBar();
        this.#opts.stream.write(`${this.#prefix ? `${this.#prefix} ` : ''}${this.#chalk.yellow(describeRetry(event))}\n`);
        this.#startCountdown(event.delayMs);
        break;
      case 'request':
        this.#stopCountdown();
        break;
      case 'restart':
        this.#stopBar();
        this.#opts.stream.write(`${this.#chalk.yellow(`restart: ${event.reason}`)}\n`);
        break;
      default:
        break;
    }
  }

  #startBar(total: number, value: number): void {
    this.#stopBar();
    const bar = new cliProgress.SingleBar(
      {
        stream: this.#opts.stream,
        format: `${this.#prefix ? `${this.#prefix} ` : ''}${this.#name} {bar} {percentage}% {bytes}/{totalText} {speed} ETA {eta_formatted}`,
        hideCursor: true,
        clearOnComplete: true,
        barsize: 24,
        etaBuffer: 40,
        fps: 8,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, value, { bytes: formatBytes(value), totalText: total ? formatBytes(total) : '?', speed: '' });
    this.#bar = bar;
  }

  end(result: DownloadResult): void {
    this.#stopBar();
    const text = describeResult(result);
    const prefix = this.#prefix ? `${this.#prefix} ` : '';
    if (result.status === 'failed') this.#opts.stream.write(`${prefix}${this.#chalk.red(text)}\n`);
    else if (!this.#opts.quiet) {
      this.#opts.stream.write(`${prefix}${result.status === 'done' ? this.#chalk.green(text) : this.#chalk.dim(text)}\n`);
    }
  }

  info(text: string): void {
    if (!this.#opts.quiet) this.#print(text);
  }

  notice(text: string): void {
    this.#print(text);
  }

  warn(text: string): void {
    this.#print(this.#chalk.yellow(`warning: ${text}`));
  }

  error(text: string): void {
    this.#print(this.#chalk.red(`error: ${text}`));
  }

  close(): void {
    this.#stopBar();
  }
}
