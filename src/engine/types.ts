import type { RetryBudget } from '../policy/with-retries.js';
import type { HttpClient } from '../http/client.js';
import type { DlrError, ErrorCode } from '../errors.js';
import type { HeaderMap } from '../http/status-error.js';

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
  /** What the source published about the file; checked before the final rename. */
  readonly expect?: ExpectedFile;
  /**
   * Looks at every final answer (after redirects) before a byte is written and
   * may veto it with a typed error: a source's knowledge of its own error pages
   * (a login redirect, an HTML page where a model should be, an expired CDN link).
   */
  readonly inspect?: (response: InspectedResponse) => DlrError | undefined;
}

export interface ExpectedFile {
  /** Lower- or upper-case hex SHA-256; the bytes are hashed while they are written. */
  readonly sha256?: string;
  /** Size in bytes; an answer whose length is far from it is refused before writing. */
  readonly size?: number;
  /** How far the size may be off (sources that round, like Civitai's sizeKB). @default 0 */
  readonly sizeTolerance?: number;
}

export interface InspectedResponse {
  readonly status: number;
  readonly headers: HeaderMap;
  /** The URL that answered, after redirects. */
  readonly url: URL;
  /** The URL dlr asked for. */
  readonly requestedUrl: URL;
  /** For an error status: the start of the body (the API's own error message); undefined for 2xx. */
  readonly body?: string;
}

export interface DownloadContext {
  /** The run's network client: policy, dispatcher and origin limiter, built once per run. */
  readonly client: HttpClient;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: DownloadEvent) => void;
  /**
   * The file's retry budget, already spent on by its API lookups and the
   * Hub probe; the download spends from the same one. Default: a fresh one.
   */
  readonly budget?: RetryBudget;
  /** Fleet mode: the lease this process holds on the file (see WriteGuard). */
  readonly guard?: WriteGuard;
}

/**
 * A fleet member's hold on a file (src/fleet/leases.ts), for the engine to
 * consult: a process paused past its lease (GC, SIGSTOP, a partition) must
 * not write into a part another member now owns, nor rename it into place.
 */
export interface WriteGuard {
  /** The lease's fencing token (it grows with every grant), recorded in the part's sidecar. */
  readonly fence: number;
  /** Cheap and synchronous, asked before each write batch: false once the lease may have lapsed. */
  stillOwner(): boolean;
  /** Asked before the final rename: confirms with the coordinator; throws when the lease is gone. */
  beforeCommit(): Promise<void>;
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
  | (ResultBase & {
      readonly status: 'done';
      readonly size: number;
      /** True when the bytes matched the published SHA-256. */
      readonly verified: boolean;
    })
  | (ResultBase & { readonly status: 'skipped'; readonly reason: 'exists' })
  | (ResultBase & { readonly status: 'failed'; readonly error: { readonly code: ErrorCode; readonly message: string } });
