import type { DownloadEvent, DownloadResult } from '../../engine/types.js';
import type { NoticeRoute } from '../io.js';

/** Renders what the core reports. Chosen once per run: TTY bars or plain lines. */
export interface Reporter {
  /** In a batch: the position shown before each line, `[index/total]`. */
  setItem(index: number, total: number): void;
  /** A file is about to be fetched. */
  begin(label: string): void;
  event(event: DownloadEvent): void;
  /** The file's outcome. */
  end(result: DownloadResult): void;
  /** The pause between files. */
  pause(ms: number): void;
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
}
