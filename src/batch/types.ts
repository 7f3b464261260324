import type { DownloadEvent, DownloadResult } from '../engine/types.js';
import type { PlanEntry } from '../history/plan.js';
import type { HistoryRow } from '../history/read-history.js';
import type { ResolvedFile } from '../sources/types.js';

/** What one batch item was about: a planned download, or a history row that could not be one. */
export type BatchSubject = Pick<HistoryRow, 'line' | 'timestamp' | 'modelType' | 'url' | 'filename'> & {
  readonly type?: string;
  readonly path?: string | undefined;
};

export interface BatchItem {
  readonly subject: BatchSubject;
  readonly result: DownloadResult;
  /** When the last attempt ended (or the item was decided without one). */
  readonly finishedAt: Date;
  /** A signal stopped the run before this item's turn: failed `interrupted` for the failures CSV, but no failure of the run. */
  readonly notStarted?: boolean;
}

export type BatchEvent =
  | { readonly type: 'item-start'; readonly index: number; readonly total: number; readonly entry: PlanEntry }
  | { readonly type: 'item-progress'; readonly index: number; readonly total: number; readonly event: DownloadEvent }
  | { readonly type: 'item-end'; readonly index: number; readonly total: number; readonly item: BatchItem }
  | { readonly type: 'pause'; readonly index: number; readonly total: number; readonly ms: number };

export interface BatchOutcome {
  readonly items: readonly BatchItem[];
  /** What the sources said about each URL fetched, for the hash cache. */
  readonly resolved?: ReadonlyArray<{ readonly url: string; readonly file: ResolvedFile; readonly path: string | undefined }>;
  readonly interrupted: boolean;
  readonly startedAt: Date;
  readonly elapsedMs: number;
}
