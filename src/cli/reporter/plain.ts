import { basename } from 'node:path';
import type { DownloadEvent, DownloadResult } from '../../engine/types.js';
import { redactUrl } from '../../http/credentials.js';
import type { OriginEvent } from '../../limiter/memory-limiter.js';
import { formatBytes, formatDuration } from '../../util/units.js';
import { describeOffset, describeOrigin, describeResult, describeRetry } from './describe.js';
import type { ItemRef, Reporter, ReporterOptions } from './reporter.js';

/**
 * For cron and pipes: one timestamped line per event, no ANSI codes, no
 * carriage returns, so the log reads top to bottom. In a batch every line of
 * a file carries its `[index/total]`, so the lines of files in flight at the
 * same time can be told apart.
 */
export class PlainReporter implements Reporter {
  readonly #opts: ReporterOptions;
  readonly #unroute: (() => void) | undefined;
  /** Per file in flight: where this run's first transfer started, once known. */
  readonly #resumedFrom = new Map<number, number>();
  /** Per file in flight: when its progress was last logged (or its transfer started). */
  readonly #lastBeat = new Map<number, number>();
  /**
   * Lines written in the same turn of the event loop go out in one write:
   * a 100k-row night of `skip` lines spent a second in 100k write(2) calls
   * to its log file (measured with --cpu-prof). A line waits at most until
   * the loop turns, or until 64 KiB are pending.
   */
  #pending = '';
  #flushScheduled = false;

  constructor(opts: ReporterOptions) {
    this.#opts = opts;
    this.#unroute = opts.notices?.route((text) => this.stopping(text));
  }

  #line(text: string, item: ItemRef | undefined, always = false): void {
    if (this.#opts.quiet && !always) return;
    const prefix = item === undefined ? '' : `[${item.index}/${item.total}] `;
    this.#pending += `${new Date().toISOString()} ${prefix}${text.replace(/[\r\n]+/g, ' ')}\n`;
    if (this.#pending.length >= 64 * 1024) this.#flush();
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#pending === '') return;
    const text = this.#pending;
    this.#pending = '';
    this.#opts.stream.write(text);
  }

  pause(ms: number, item?: ItemRef): void {
    this.#line(`pause ${formatDuration(ms)} before the next file from this site`, item);
  }

  origin(event: OriginEvent): void {
    this.#line(describeOrigin(event), undefined, event.type === 'origin-dead');
  }

  begin(label: string, item?: ItemRef): void {
    this.#resumedFrom.delete(item?.index ?? 0);
    if (this.#opts.quiet) return;
    this.#line(`start ${redactUrl(label)}`, item);
  }

  event(event: DownloadEvent, item?: ItemRef): void {
    switch (event.type) {
      case 'retry':
        this.#line(describeRetry(event), item);
        break;
      case 'restart':
        this.#line(`restart ${event.path}: ${event.reason}`, item);
        break;
      case 'transfer': {
        const key = item?.index ?? 0;
        if (!this.#resumedFrom.has(key)) this.#resumedFrom.set(key, event.offset);
        this.#lastBeat.set(key, Date.now());
        if (event.offset > 0) this.#line(`resume ${event.path} from ${describeOffset(event.offset)}`, item);
        break;
      }
      case 'progress':
        this.#heartbeat(event, item);
        break;
      default:
        break;
    }
  }

  /** A long transfer says it is alive every few minutes: `progress name 1.2 GiB/6.5 GiB 12.0 MiB/s`. */
  #heartbeat(event: Extract<DownloadEvent, { type: 'progress' }>, item: ItemRef | undefined): void {
    const every = this.#opts.progressEveryMs ?? 0;
    if (!(every > 0) || this.#opts.quiet) return;
    const key = item?.index ?? 0;
    const now = Date.now();
    const last = this.#lastBeat.get(key);
    if (last === undefined) {
      this.#lastBeat.set(key, now);
      return;
    }
    if (now - last < every) return;
    this.#lastBeat.set(key, now);
    const size = event.total === undefined ? formatBytes(event.bytes) : `${formatBytes(event.bytes)}/${formatBytes(event.total)}`;
    const rate = event.bytesPerSec >= 1 ? ` ${formatBytes(Math.round(event.bytesPerSec))}/s` : '';
    this.#line(`progress ${basename(event.path)} ${size}${rate}`, item);
  }

  end(result: DownloadResult, item?: ItemRef): void {
    const key = item?.index ?? 0;
    const resumedFrom = this.#resumedFrom.get(key);
    this.#resumedFrom.delete(key);
    this.#lastBeat.delete(key);
    if (this.#opts.quiet && result.status !== 'failed') return;
    this.#line(describeResult(result, resumedFrom), item, result.status === 'failed');
  }

  info(text: string): void {
    this.#line(text, undefined);
  }

  notice(text: string): void {
    this.#line(text, undefined, true);
  }

  warn(text: string): void {
    this.#line(`warning: ${text}`, undefined, true);
  }

  error(text: string): void {
    this.#line(`error: ${text}`, undefined, true);
  }

  stopping(text: string): void {
    this.#line(text, undefined, true);
    this.#flush();
  }

  close(): void {
    this.#flush();
    this.#unroute?.();
  }
}
