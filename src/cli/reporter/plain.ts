import type { DownloadEvent, DownloadResult } from '../../engine/types.js';
import { redactUrl } from '../../http/credentials.js';
import { formatDuration } from '../../util/units.js';
import { describeOffset, describeResult, describeRetry } from './describe.js';
import type { Reporter, ReporterOptions } from './reporter.js';

/**
 * For cron and pipes: one timestamped line per event, no ANSI codes, no
 * carriage returns, so the log reads top to bottom.
 */
export class PlainReporter implements Reporter {
  readonly #opts: ReporterOptions;
  readonly #unroute: (() => void) | undefined;
  #item = '';
  /** Where this run's first transfer of the current file started, once known. */
  #resumedFrom: number | undefined;

  constructor(opts: ReporterOptions) {
    this.#opts = opts;
    this.#unroute = opts.notices?.route((text) => this.stopping(text));
  }

  #line(text: string, always = false): void {
    if (this.#opts.quiet && !always) return;
    this.#opts.stream.write(`${new Date().toISOString()} ${this.#item}${text.replace(/[\r\n]+/g, ' ')}\n`);
  }

  setItem(index: number, total: number): void {
    this.#item = `[${index}/${total}] `;
  }

  pause(ms: number): void {
    this.#line(`pause ${formatDuration(ms)} before the next file`);
  }

  begin(label: string): void {
    this.#resumedFrom = undefined;
    this.#line(`start ${redactUrl(label)}`);
  }

  event(event: DownloadEvent): void {
    switch (event.type) {
      case 'retry':
        this.#line(describeRetry(event));
        break;
      case 'restart':
        this.#line(`restart ${event.path}: ${event.reason}`);
        break;
      case 'transfer':
        this.#resumedFrom ??= event.offset;
        if (event.offset > 0) this.#line(`resume ${event.path} from ${describeOffset(event.offset)}`);
        break;
      default:
        break;
    }
  }

  end(result: DownloadResult): void {
    this.#line(describeResult(result, this.#resumedFrom), result.status === 'failed');
    this.#resumedFrom = undefined;
  }

  info(text: string): void {
    this.#unprefixed(text, false);
  }

  notice(text: string): void {
    this.#unprefixed(text, true);
  }

  #unprefixed(text: string, always: boolean): void {
    const item = this.#item;
    this.#item = '';
    this.#line(text, always);
    this.#item = item;
  }

  warn(text: string): void {
    this.#line(`warning: ${text}`, true);
  }

  error(text: string): void {
    this.#line(`error: ${text}`, true);
  }

  stopping(text: string): void {
    this.#unprefixed(text, true);
  }

  close(): void {
    this.#unroute?.();
  }
}
