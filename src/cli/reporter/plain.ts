import type { DownloadEvent, DownloadResult } from '../../engine/types.js';
import { redactUrl } from '../../http/credentials.js';
import { formatDuration } from '../../util/units.js';
import { describeResult, describeRetry } from './describe.js';
import type { Reporter, ReporterOptions } from './reporter.js';

/**
 * For cron and pipes: one timestamped line per event, no ANSI codes, no
 * carriage returns, so the log reads top to bottom.
 */
export class PlainReporter implements Reporter {
  readonly #opts: ReporterOptions;
  #item = '';

  constructor(opts: ReporterOptions) {
    this.#opts = opts;
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
        if (event.offset > 0) this.#line(`resume ${event.path} from byte ${event.offset}`);
        break;
      default:
        break;
    }
  }

  end(result: DownloadResult): void {
    this.#line(describeResult(result), result.status === 'failed');
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

  close(): void {}
}
