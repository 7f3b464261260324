import type { Dispatcher } from 'undici';
import type { ErrorCode } from '../errors.js';
import type { ResolvedPolicy } from '../options.js';

/** Where a download lands: an exact file, or a directory plus an optional name (else Content-Disposition, else the URL). */
export type Destination = { readonly file: string } | { readonly dir: string; readonly name?: string };

export interface DownloadRequest {
  readonly url: string | URL;
  readonly dest: Destination;
  /** Extra request headers. Credentials among them go only to the URL's origin. */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Replace an existing final file. The old file stays until the new one is complete.
   * @default false (an existing file is skipped)
   */
  readonly overwrite?: boolean;
}

export interface DownloadContext {
  readonly policy: ResolvedPolicy;
  /** The run's one dispatcher. When omitted, download() makes one and closes it. */
  readonly dispatcher?: Dispatcher;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: DownloadEvent) => void;
}

/** What the engine reports while it works; a reporter renders these, the engine never prints. */
export type DownloadEvent =
  | { readonly type: 'request'; readonly attempt: number; readonly url: string; readonly offset: number }
  | {
      readonly type: 'transfer';
      readonly path: string;
      /** Bytes already in the part that this response continues from (0 = from scratch). */
      readonly offset: number;
      readonly total: number | undefined;
    }
  | {
      readonly type: 'progress';
      readonly path: string;
      readonly bytes: number;
      readonly total: number | undefined;
      readonly bytesPerSec: number;
    }
  | { readonly type: 'restart'; readonly path: string; readonly reason: string }
  | {
      readonly type: 'retry';
      /** 1 for the first retry. */
      readonly retry: number;
      readonly delayMs: number;
      readonly code: ErrorCode;
      readonly message: string;
    };

interface ResultBase {
  readonly url: string;
  /** The final file's path, once known. */
  readonly path: string | undefined;
  /** HTTP requests made for the file body (redirect hops not counted). */
  readonly attempts: number;
  /** Waits taken before trying again. */
  readonly retries: number;
  /** Body bytes received over the network in this call. */
  readonly bytesFetched: number;
  readonly durationMs: number;
}

export type DownloadResult =
  | (ResultBase & { readonly status: 'done'; readonly size: number })
  | (ResultBase & { readonly status: 'skipped'; readonly reason: 'exists' })
  | (ResultBase & { readonly status: 'failed'; readonly error: { readonly code: ErrorCode; readonly message: string } });
