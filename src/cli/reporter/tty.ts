import { basename } from 'node:path';
import cliProgress from 'cli-progress';
import { Chalk, type ChalkInstance } from 'chalk';
import type { DownloadEvent, DownloadResult } from '../../engine/types.js';
import { redactUrl } from '../../http/credentials.js';
import { formatBytes, formatDuration } from '../../util/units.js';
import { describeOffset, describeResult, describeRetry } from './describe.js';
import type { Reporter, ReporterOptions } from './reporter.js';

/** For a person at a terminal: one live bar for the current file, coloured outcome lines. */
export class TtyReporter implements Reporter {
  readonly #opts: ReporterOptions;
  readonly #chalk: ChalkInstance;
  #bar: cliProgress.SingleBar | undefined;
  #countdown: NodeJS.Timeout | undefined;
  #name = '';
  #prefix = '';
  /** Where this run's first transfer of the current file started, once known. */
  #resumedFrom: number | undefined;
  /** After the signal notice nothing is drawn again: the lines that follow (the summary) start on a clean line. */
  #stopping = false;
  readonly #unroute: (() => void) | undefined;

  constructor(opts: ReporterOptions) {
    this.#opts = opts;
    this.#chalk = new Chalk({ level: opts.color ? 1 : 0 });
    this.#unroute = opts.notices?.route((text) => this.stopping(text));
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
    if (this.#stopping) return;
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
    this.#resumedFrom = undefined;
  }

  event(event: DownloadEvent): void {
    if (this.#opts.quiet) return;
    switch (event.type) {
      case 'transfer':
        this.#name = basename(event.path);
        this.#resumedFrom ??= event.offset;
        if (event.offset > 0) this.#print(this.#chalk.dim(`${this.#prefix ? `${this.#prefix} ` : ''}resume ${this.#name} from ${describeOffset(event.offset)}`));
        this.#startBar(event.total ?? 0, event.offset);
        break;
      case 'progress':
        if (!this.#bar) this.#startBar(event.total ?? 0, event.bytes);
        if (event.total !== undefined && this.#bar?.getTotal() !== event.total) this.#bar?.setTotal(event.total);
        this.#bar?.update(event.bytes, {
          bytes: formatBytes(event.bytes),
          totalText: event.total === undefined ? '?' : formatBytes(event.total),
          ...rateFields(event.bytes, event.total, event.bytesPerSec),
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
    if (this.#stopping) return;
    const bar = new cliProgress.SingleBar(
      {
        stream: this.#opts.stream,
        // Speed and ETA are dlr's own, from the speed monitor's window:
        // cli-progress's ETA says 0s before it has a rate and while throttled.
        format: `${this.#prefix ? `${this.#prefix} ` : ''}${this.#name} {bar} {percentage}% {bytes}/{totalText} {speed} ETA {etaText}`,
        hideCursor: true,
        clearOnComplete: true,
        barsize: 24,
        etaBuffer: 40,
        fps: 8,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, value, { bytes: formatBytes(value), totalText: total ? formatBytes(total) : '?', ...rateFields(value, total, 0) });
    this.#bar = bar;
  }

  end(result: DownloadResult): void {
    this.#stopBar();
    const text = describeResult(result, this.#resumedFrom);
    this.#resumedFrom = undefined;
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

  stopping(text: string): void {
    this.#stopping = true;
    this.#print(this.#chalk.yellow(text));
  }

  close(): void {
    this.#stopBar();
    this.#unroute?.();
  }
}

/** `--` until there is a rate to tell (the first samples, a stalled or throttled transfer). */
export function rateFields(bytes: number, total: number | undefined, bytesPerSec: number): { speed: string; etaText: string } {
  // (`etaText`, not `eta`: cli-progress fills `{eta}` itself.)
  if (!(bytesPerSec >= 1)) return { speed: '--/s', etaText: '--' };
  const speed = `${formatBytes(Math.round(bytesPerSec))}/s`;
  if (total === undefined || total <= 0) return { speed, etaText: '--' };
  return { speed, etaText: formatDuration(Math.max(0, ((total - bytes) / bytesPerSec) * 1000)) };
}
