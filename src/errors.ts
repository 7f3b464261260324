/**
 * The one vocabulary of failure, shared from the engine to the user: the
 * failures CSV, the summary, `--summary-json` and the exit code all read
 * `error.code`, and retry decisions branch on it, never on message text.
 */
export type ErrorCode =
  /** HTTP 429/503 or the transfer stayed under the speed floor. */
  | 'rate-limited'
  /** HTTP 401: no credentials or bad credentials. */
  | 'auth-required'
  /** HTTP 403: early access, no permission, or an expired signed URL. */
  | 'forbidden'
  /** HTTP 404/410. */
  | 'not-found'
  /** Any other 4xx, or a non-2xx that fits nowhere else. */
  | 'http-error'
  /** HTTP 5xx other than 503. */
  | 'server-error'
  /** Connection refused or reset, premature close, short body, DNS failure. */
  | 'network'
  /** Connect, header or idle-body timeout. */
  | 'timeout'
  /** TLS failed: certificate not trusted, expired or for another name, or the server does not speak TLS. */
  | 'tls'
  /** The proxy cannot be reached, refused the request (403) or wants credentials (407). */
  | 'proxy'
  /** Too many redirects, a redirect loop, or a redirect to a non-http(s) URL. */
  | 'redirect'
  /** The server answered something that cannot be the file (bad Content-Range, HTML instead of a model). */
  | 'invalid-response'
  /** The bytes on disk do not match the hash the source publishes. */
  | 'hash-mismatch'
  /** A history row that cannot be downloaded (empty or invalid URL, unsupported scheme). */
  | 'invalid-row'
  /** Writing the file failed: full disk, read-only or unwritable destination. */
  | 'disk'
  /** Stopped by a signal (SIGINT/SIGTERM) or an AbortSignal. */
  | 'interrupted'
  /** Bad command-line usage. */
  | 'usage'
  /** Bad configuration file or option value. */
  | 'config'
  /** Another run holds the lock. */
  | 'locked'
  /** A bug in dlr. */
  | 'internal';

const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['rate-limited', 'server-error', 'network', 'timeout']);

export interface DlrErrorOptions {
  readonly cause?: unknown;
  /** HTTP status that caused the error, when there was one. */
  readonly status?: number;
  /** The server's Retry-After, already parsed and clamped, in ms. */
  readonly retryAfterMs?: number;
  /** Low-level detail such as an errno (`ECONNRESET`), kept beside the stable code. */
  readonly detail?: string;
  /** Overrides the code's usual retryability, e.g. a 403 from a CDN whose signed link expired. */
  readonly retryable?: boolean;
  /**
   * The failure is the origin's, not the file's (it cannot be reached): the
   * origin limiter waits on one retry schedule for every file behind it, so
   * a file does not spend its own retries on it.
   */
  readonly originWide?: boolean;
}

export class DlrError extends Error {
  readonly code: ErrorCode;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly detail: string | undefined;
  readonly originWide: boolean;
  readonly #retryable: boolean | undefined;

  constructor(code: ErrorCode, message: string, options: DlrErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DlrError';
    this.code = code;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
    this.detail = options.detail;
    this.originWide = options.originWide ?? false;
    this.#retryable = options.retryable;
  }

  /** Whether waiting and trying again can help. */
  get retryable(): boolean {
    return this.#retryable ?? RETRYABLE.has(this.code);
  }
}

/** Bad command line: exit 2. */
export class UsageError extends DlrError {
  constructor(message: string) {
    super('usage', message);
    this.name = 'UsageError';
  }
}

/** Bad configuration value: exit 2. The message names the key. */
export class ConfigError extends DlrError {
  constructor(message: string) {
    super('config', message);
    this.name = 'ConfigError';
  }
}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
/** EX_TEMPFAIL from sysexits.h: "try again later". */
export const EXIT_LOCKED = 75;
/** Stopped by a signal: 128 + its number, as shells and supervisors expect (SIGINT 130, SIGTERM 143). */
export const EXIT_INTERRUPTED = 130;
export const EXIT_TERMINATED = 143;

/** The exit code for a run a signal stopped; anything but SIGTERM counts as Ctrl-C. */
export function exitCodeForSignal(signal: NodeJS.Signals | undefined): number {
  return signal === 'SIGTERM' ? EXIT_TERMINATED : EXIT_INTERRUPTED;
}

/** The exit code for an error that ends the whole command. */
export function exitCodeFor(error: unknown): number {
  if (error instanceof DlrError) {
    switch (error.code) {
      case 'usage':
      case 'config':
        return EXIT_USAGE;
      case 'locked':
        return EXIT_LOCKED;
      case 'interrupted':
        return EXIT_INTERRUPTED;
      default:
        return EXIT_FAILED;
    }
  }
  return EXIT_FAILED;
}

const NETWORK_ERRNOS = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
]);

const DISK_ERRNOS = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EISDIR', 'ENOTDIR', 'EEXIST', 'EMFILE', 'EFBIG', 'EIO', 'ENAMETOOLONG', 'ELOOP']);

/** The string `code` of a Node system error (`ENOENT`), if it has one. */
export function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Maps whatever a transfer threw (undici errors, errno errors, aborts) to a
 * DlrError at the boundary where it happened, so nothing above has to guess.
 */
export function toDlrError(error: unknown, context: { path?: string } = {}): DlrError {
  if (error instanceof DlrError) return error;
  const errno = errnoOf(error);
  const message = error instanceof Error ? error.message : String(error);
  if (errno === 'UND_ERR_ABORTED') {
    // undici aborting on its own (a proxy refusing the tunnel is reported so):
    // only a signal the user sent is `interrupted`.
    return new DlrError('network', message, { cause: error, detail: errno });
  }
  if ((error as { name?: string } | null)?.name === 'AbortError' || errno === 'ABORT_ERR') {
    return new DlrError('interrupted', 'interrupted', { cause: error });
  }
  const tls = tlsError(errno, error);
  if (tls !== undefined) return tls;
  switch (errno) {
    case 'UND_ERR_HEADERS_OVERFLOW':
      // Retrying cannot make a server's headers shorter.
      return new DlrError('invalid-response', `the response headers are larger than dlr accepts (${MAX_HEADER_KIB} KiB, as curl)`, {
        cause: error,
        detail: errno,
      });
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new DlrError('timeout', 'connect timeout', { cause: error, detail: errno });
    case 'UND_ERR_HEADERS_TIMEOUT':
      return new DlrError('timeout', 'timed out waiting for response headers', { cause: error, detail: errno });
    case 'UND_ERR_BODY_TIMEOUT':
      return new DlrError('timeout', 'no data received within the idle timeout', { cause: error, detail: errno });
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
      return new DlrError('network', `connection failed: ${message}`, { cause: error, detail: errno });
    case 'UND_ERR_INVALID_ARG':
      return new DlrError('invalid-response', message, { cause: error, detail: errno });
    default:
      break;
  }
  if (errno !== undefined && NETWORK_ERRNOS.has(errno)) {
    return new DlrError('network', `${networkWhat(errno, error)}: ${errno}`, { cause: error, detail: errno });
  }
  if (errno !== undefined && DISK_ERRNOS.has(errno)) {
    const where = context.path ?? (error as { path?: string }).path;
    const reason = errno === 'ENOSPC' || errno === 'EDQUOT' ? 'no space left on device' : message;
    return new DlrError('disk', where ? `cannot write ${where}: ${reason}` : `cannot write: ${reason}`, {
      cause: error,
      detail: errno,
    });
  }
  if (errno?.startsWith('Z_') || errno?.startsWith('ERR__ERROR') || errno === 'ERR_BROTLI_DECOMPRESSION_FAILED') {
    return new DlrError('invalid-response', `the body could not be decoded: ${message}`, { cause: error, detail: errno });
  }
  if (errno?.startsWith('HPE_') || (error as { name?: string } | null)?.name === 'HTTPParserError') {
    // llhttp refused the answer: not HTTP/1.1 as RFC 9112 frames it. Often a
    // broken proxy or a connection that died mid-head, so it is retried.
    return new DlrError('network', `the server's answer is not valid HTTP/1.1: ${message}`, { cause: error, detail: errno });
  }
  if (errno?.startsWith('UND_ERR')) {
    return new DlrError('network', message, { cause: error, detail: errno });
  }
  if (errno?.startsWith('ERR_STREAM_PREMATURE_CLOSE')) {
    return new DlrError('network', 'connection closed before the body was complete', { cause: error, detail: errno });
  }
  return new DlrError('internal', message, { cause: error });
}

/** Response headers accepted in all, as curl's CURL_MAX_HTTP_HEADER (100 KiB); undici's default is 16 KiB. */
export const MAX_HEADER_KIB = 100;

const UNTRUSTED_CERT = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG',
  'INVALID_CA',
]);

const TRUST_HINT = 'to trust a private CA, pass --cacert FILE (PEM) or set NODE_EXTRA_CA_CERTS=FILE';

/**
 * One clear line for a TLS failure instead of OpenSSL's
 * (`…:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:…`).
 * None is retried: waiting does not make a certificate trusted.
 */
function tlsError(errno: string | undefined, error: unknown): DlrError | undefined {
  if (errno === undefined) return undefined;
  const options = { cause: error, detail: errno, retryable: false };
  if (UNTRUSTED_CERT.has(errno)) {
    const why = errno.includes('SELF_SIGNED') ? 'self-signed' : 'not issued by a trusted CA';
    return new DlrError('tls', `TLS: the server's certificate is not trusted (${why}); ${TRUST_HINT}`, options);
  }
  if (errno === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const host = (error as { host?: unknown }).host;
    const reason = String((error as { reason?: unknown }).reason ?? '').replace(/^Host: [^.]*\. /, '');
    return new DlrError('tls', `TLS: the certificate is not valid for ${typeof host === 'string' ? host : 'this host'}${reason ? ` (${reason})` : ''}`, options);
  }
  if (errno === 'CERT_HAS_EXPIRED') return new DlrError('tls', "TLS: the server's certificate has expired", options);
  if (errno === 'CERT_NOT_YET_VALID') return new DlrError('tls', "TLS: the server's certificate is not valid yet (check the clock)", options);
  if (errno === 'ERR_SSL_WRONG_VERSION_NUMBER' || errno === 'ERR_SSL_HTTP_REQUEST' || errno === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') {
    return new DlrError('tls', 'TLS: the server did not answer in TLS (a plain http:// server on this port?)', options);
  }
  if (errno.startsWith('ERR_SSL_') || errno.startsWith('ERR_TLS_') || errno.startsWith('CERT_')) {
    const reason = String((error as { reason?: unknown }).reason ?? errno.replace(/^ERR_SSL_/, '').toLowerCase().replace(/_/g, ' '));
    return new DlrError('tls', `TLS handshake failed: ${reason}`, options);
  }
  return undefined;
}

/** What failed, with the name or address the system error carries: "cannot resolve example.invalid". */
function networkWhat(errno: string, error: unknown): string {
  const { hostname, address, port } = (error ?? {}) as { hostname?: unknown; address?: unknown; port?: unknown };
  if ((errno === 'ENOTFOUND' || errno === 'EAI_AGAIN') && typeof hostname === 'string') return `cannot resolve ${hostname}`;
  if (errno === 'ECONNREFUSED' && typeof address === 'string') return `connection refused by ${address}${typeof port === 'number' ? `:${port}` : ''}`;
  return 'connection failed';
}
