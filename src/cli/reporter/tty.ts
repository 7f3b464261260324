import { basename } from 'node:path';
import { Chalk, type ChalkInstance } from 'chalk';
import type { DownloadEvent, DownloadResult } from '../../engine/types.js';
import { redactUrl } from '../../http/credentials.js';
import type { OriginEvent } from '../../limiter/memory-limiter.js';
import { formatBytes, formatDuration } from '../../util/units.js';
import { BarBlock, barCells } from './bar-block.js';
import { describeOffset, describeOrigin, describeResult, describeRetry } from './describe.js';
import type { ItemRef, Reporter, ReporterOptions } from './reporter.js';

interface ItemState {
  readonly key: number;
  readonly prefix: string;
  name: string;
  /** Drawing a live line (a transfer has started). */
  live: boolean;
  resumedFrom: number | undefined;
  bytes: number;
  total: number | undefined;
  bytesPerSec: number;
  /** Bytes the part held before this run's transfer: not fetched now. */
  startedAt: number;
  /** Shown instead of the ETA while a retry waits. */
  waiting: string | undefined;
}

/** The overall line's key: above every file's (files are keyed by plan index, from 1). */
const OVERALL = -1;

/**
 * For a person at a terminal: one live line per file in flight, an overall
 * line in a batch (files done, bytes fetched, speed, ETA when the sizes are
 * known), and coloured outcome lines printed above them.
 */
export class TtyReporter implements Reporter {
  readonly #opts: ReporterOptions;
  readonly #chalk: ChalkInstance;
  readonly #block: BarBlock;
  readonly #items = new Map<number, ItemState>();
  #filesDone = 0;
  #filesTotal = 0;
  /** Bytes fetched by files already ended. */
  #bytesEnded = 0;
  /** After the signal notice nothing is drawn again: the lines that follow (the summary) start on a clean line. */
  #stopping = false;
  readonly #unroute: (() => void) | undefined;

  constructor(opts: ReporterOptions) {
    this.#opts = opts;
    this.#chalk = new Chalk({ level: opts.color ? 1 : 0 });
    this.#block = new BarBlock(opts.stream);
    this.#unroute = opts.notices?.route((text) => this.stopping(text));
  }

  #state(item: ItemRef | undefined): ItemState {
    const key = item?.index ?? 0;
    let state = this.#items.get(key);
    if (state === undefined) {
      state = {
        key,
        prefix: item ? `[${item.index}/${item.total}] ` : '',
        name: '',
        live: false,
        resumedFrom: undefined,
        bytes: 0,
        total: undefined,
        bytesPerSec: 0,
        startedAt: 0,
        waiting: undefined,
      };
      this.#items.set(key, state);
    }
    if (item) this.#filesTotal = item.total;
    return state;
  }

  get #drawing(): boolean {
    return !this.#stopping && !this.#opts.quiet;
  }

  /** A line above the live lines (or alone, when none is drawn). */
  #print(text: string): void {
    if (this.#block.closed) this.#opts.stream.write(`${text}\n`);
    else this.#block.print(text);
  }

  #drawItem(state: ItemState): void {
    if (!this.#drawing || !state.live) return;
    const ratio = state.total ? state.bytes / state.total : 0;
    const rate = rateFields(state.bytes, state.total, state.bytesPerSec);
    const pct = state.total ? `${Math.floor(ratio * 100)}%` : '';
    const size = `${formatBytes(state.bytes)}/${state.total === undefined ? '?' : formatBytes(state.total)}`;
    const eta = state.waiting ?? `ETA ${rate.etaText}`;
    this.#block.set(state.key, `${state.prefix}${state.name} ${barCells(ratio)} ${pct} ${size} ${rate.speed} ${eta}`);
    this.#drawOverall();
  }

  #drawOverall(): void {
    if (this.#filesTotal <= 1 || !this.#drawing) return;
    let inFlight = 0;
    let speed = 0;
    for (const state of this.#items.values()) {
      inFlight += Math.max(0, state.bytes - state.startedAt);
      speed += state.bytesPerSec;
    }
    const fetched = formatBytes(this.#bytesEnded + inFlight);
    const rate = speed >= 1 ? `${formatBytes(Math.round(speed))}/s` : '--/s';
    const ratio = this.#filesDone / this.#filesTotal;
    this.#block.set(OVERALL, this.#chalk.bold(`${this.#filesDone}/${this.#filesTotal} files ${barCells(ratio)} ${Math.floor(ratio * 100)}% ${fetched} fetched ${rate}`));
  }

  pause(ms: number, item?: ItemRef): void {
    if (!this.#opts.quiet) this.#print(this.#chalk.dim(`${this.#state(item).prefix}pause ${formatDuration(ms)} before the next file from this site`));
  }

  origin(event: OriginEvent): void {
    if (this.#opts.quiet && event.type !== 'origin-dead') return;
    this.#print(this.#chalk.yellow(describeOrigin(event)));
  }

  begin(label: string, item?: ItemRef): void {
    const state = this.#state(item);
    state.name = redactUrl(label);
    state.resumedFrom = undefined;
    this.#drawOverall();
  }

  event(event: DownloadEvent, item?: ItemRef): void {
    if (this.#opts.quiet) return;
    const state = this.#state(item);
    switch (event.type) {
      case 'transfer':
        state.name = basename(event.path);
        state.resumedFrom ??= event.offset;
        state.startedAt = event.offset;
        state.bytes = event.offset;
        state.total = event.total;
        state.bytesPerSec = 0;
        state.waiting = undefined;
        state.live = true;
        if (event.offset > 0) this.#print(this.#chalk.dim(`${state.prefix}resume ${state.name} from ${describeOffset(event.offset)}`));
        this.#drawItem(state);
        break;
      case 'progress':
        state.bytes = event.bytes;
        state.bytesPerSec = event.bytesPerSec;
        if (event.total !== undefined) state.total = event.total;
        state.live = true;
        this.#drawItem(state);
        break;
      case 'retry':
        state.bytesPerSec = 0;
        state.waiting = `retry in ${formatDuration(event.delayMs)}`;
        this.#print(`${state.prefix}${this.#chalk.yellow(describeRetry(event))}`);
        this.#drawItem(state);
        break;
      case 'request':
        state.waiting = undefined;
        break;
      case 'restart':
        this.#print(`${state.prefix}${this.#chalk.yellow(`restart: ${event.reason}`)}`);
        break;
      default:
        break;
    }
  }

  end(result: DownloadResult, item?: ItemRef): void {
    const state = this.#state(item);
    this.#block.remove(state.key);
    this.#items.delete(state.key);
    this.#filesDone++;
    this.#bytesEnded += result.bytesFetched;
    const text = `${state.prefix}${describeResult(result, state.resumedFrom)}`;
    if (result.status === 'failed') this.#print(this.#chalk.red(text));
    else if (!this.#opts.quiet) this.#print(result.status === 'done' ? this.#chalk.green(text) : this.#chalk.dim(text));
    this.#drawOverall();
  }

  info(text: string): void {
    if (!this.#opts.quiet) this.#print(text);
  }

  notice(text: string): void {
    // The summary and what follows it: the live lines are done.
    this.#block.close();
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
    this.#block.close();
    this.#opts.stream.write(`${this.#chalk.yellow(text)}\n`);
  }

  close(): void {
    this.#block.close();
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
