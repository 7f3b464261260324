import type { DownloadEvent, DownloadResult } from '../../engine/types.js';
import type { OriginEvent } from '../../limiter/memory-limiter.js';
import type { NoticeRoute } from '../io.js';

/**
 * Which file of a batch a call is about: its place in the plan, shown as
 * `[index/total]` before its lines, so an interleaved log (several files in
 * flight) still reads. Omitted for a single download.
 */
export interface ItemRef {
  readonly index: number;
  readonly total: number;
}

/** Renders what the core reports. Chosen once per run: TTY bars or plain lines. */
export interface Reporter {
  /** A file is about to be fetched. */
  begin(label: string, item?: ItemRef): void;
  event(event: DownloadEvent, item?: ItemRef): void;
  /** The file's outcome. */
  end(result: DownloadResult, item?: ItemRef): void;
  /** The seed's pause before the next file to the same origin. */
  pause(ms: number, item?: ItemRef): void;
  /** An origin paused (429/503), down (unreachable, on its retry schedule) or given up. */
  origin(event: OriginEvent): void;
  info(text: string): void;
  /** Lines that print even with --quiet (the summary). */
  notice(text: string): void;
  warn(text: string): void;
  error(text: string): void;
  /**
   * The run is stopping (a signal): the line is shown at once, whatever is
   * being drawn is taken down first, and no new bar is drawn after it.
   */
  stopping(text: string): void;
  close(): void;
}

export interface ReporterOptions {
  readonly stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly quiet: boolean;
  readonly color: boolean;
  /** Notices from outside the flow (the signal handler's) come here while the reporter is open. */
  readonly notices?: NoticeRoute;
  /**
   * Plain mode: a transfer in flight logs its progress this often, so a log
   * shows a long one is alive (default 5 minutes; `DLR_PROGRESS_INTERVAL`
   * seconds, for tests). 0: never.
   */
  readonly progressEveryMs?: number;
}
