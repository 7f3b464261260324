import type { DownloadEvent, DownloadResult } from '../../engine/types.js';
import { redactUrl } from '../../http/credentials.js';
import { describeResult, describeRetry } from './describe.js';
import type { Reporter, ReporterOptions } from './reporter.js';

/**
 * For cron and pipes: one timestamped line per event, no ANSI codes, no
 * carriage returns, so the log reads top to bottom.
 */
export class PlainReporter implements Reporter {
  readonly #opts: ReporterOptions;

  constructor(opts: ReporterOptions) {
    this.#opts = opts;
  }

  #line(text: string, always = false): void {
    if (this.#opts.quiet && !always) return;
    this.#opts.stream.write(`${new Date().toISOString()} ${text.replace(/[\r\n]+/g, ' ')}\n`);
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
    this.#line(text);
  }

  warn(text: string): void {
    this.#line(`warning: ${text}`, true);
  }

  error(text: string): void {
    this.#line(`error: ${text}`, true);
  }

  close(): void {}
}
