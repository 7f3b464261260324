import type { Dispatcher } from './undici.js';
import { DlrError, toDlrError } from '../errors.js';
import type { RequestLimiter } from '../limiter/types.js';
import type { ResolvedPolicy } from '../options.js';
import { exchange } from './exchange.js';
import { repairLatin1 } from './header-text.js';
import type { ResponseBody } from './response-body.js';
import { withoutCredentials, redactUrl } from './credentials.js';
import { header, type HeaderMap } from './status-error.js';

export interface HttpRequest {
  readonly url: URL;
  /** May carry credentials; they go only to `url`'s origin. */
  readonly headers: Readonly<Record<string, string>>;
  readonly method?: 'GET' | 'HEAD';
  readonly signal?: AbortSignal;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: HeaderMap;
  readonly body: ResponseBody;
  /** The URL that answered, after redirects. */
  readonly url: URL;
  readonly redirects: number;
}

/** What the request path needs of the run's client (src/http/client.ts). */
export interface RequestClient {
  readonly policy: Pick<ResolvedPolicy, 'maxRedirects' | 'idleTimeoutMs' | 'responseBufferBytes'>;
  readonly dispatcher: Dispatcher;
  readonly limiter: RequestLimiter;
  /** `--user-agent`: replaces whatever User-Agent a caller set, on every hop. */
  readonly userAgent?: string | undefined;
  /** `-v`: told of every hop as it is sent and as it is answered (the CLI renders it, masking credentials). */
  readonly onExchange?: ((event: ExchangeEvent) => void) | undefined;
}

/** One hop of the request path, for a verbose log; headers as sent and received, credentials included: the renderer masks them. */
export type ExchangeEvent =
  | { readonly phase: 'request'; readonly method: string; readonly url: URL; readonly headers: Readonly<Record<string, string>> }
  | { readonly phase: 'response'; readonly method: string; readonly url: URL; readonly status: number; readonly headers: HeaderMap; readonly ms: number }
  | { readonly phase: 'error'; readonly method: string; readonly url: URL; readonly message: string; readonly ms: number };

export interface SendOptions {
  /**
   * Return a redirect instead of following it when this says so: a metadata
   * probe wants the answer whose headers describe the file (the hub's), not
   * the CDN's. Redirects that leave the origin are always returned then too.
   */
  readonly stopAtRedirect?: (redirect: { readonly headers: HeaderMap; readonly next: URL }) => boolean;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * The single request path of dlr: every request goes through here, so the
 * origin limiter, the dispatcher, timeouts and the credential rule live in
 * one place.
 *
 * Every hop (the first request and each redirect) asks the limiter of its
 * origin before it is sent and tells it how the answer went; the connection
 * slot is held until the answer's body is read or dropped, and the body's
 * bytes are paced by the origin's and the run's byte budgets.
 *
 * Redirects are followed by hand (at most `maxRedirects`, http/https only).
 * Once a redirect leaves the origin the credentials were given for,
 * Authorization, Cookie and Proxy-Authorization are dropped for the rest of
 * the chain, even if it comes back: Civitai's download route answers with a
 * signed CDN URL that must never see the API key (WIRE.md 1.3). Range and
 * If-Range are kept, since the range applies to the redirect target.
 */
export async function sendRequest(req: HttpRequest, client: RequestClient, opts: SendOptions = {}): Promise<HttpResponse> {
  let url = req.url;
  let headers = { ...req.headers };
  if (client.userAgent !== undefined) {
    for (const name of Object.keys(headers)) if (name.toLowerCase() === 'user-agent') delete headers[name];
    headers['user-agent'] = client.userAgent;
  }
  const credentialOrigin = url.origin;
  const seen = new Set<string>([url.href]);
  for (let redirects = 0; ; redirects++) {
    const origin = url.origin;
    const permit = await client.limiter.acquire(origin, req.signal);
    const method = req.method ?? 'GET';
    const sentAt = performance.now();
    client.onExchange?.({ phase: 'request', method, url, headers });
    let res;
    try {
      res = await exchange(client.dispatcher, {
        url,
        method: req.method ?? 'GET',
        headers,
        signal: req.signal,
        idleTimeoutMs: client.policy.idleTimeoutMs,
        bodyHighWaterMark: client.policy.responseBufferBytes,
        pace: (bytes) => client.limiter.takeBytes(origin, bytes),
      });
    } catch (error) {
      const failure = permit.failed(req.signal?.aborted ? new DlrError('interrupted', 'interrupted') : toDlrError(error));
      permit.release();
      client.onExchange?.({ phase: 'error', method, url, message: failure.message, ms: performance.now() - sentAt });
      throw failure;
    }
    client.onExchange?.({ phase: 'response', method, url, status: res.status, headers: res.headers, ms: performance.now() - sentAt });
    permit.answered(res.status, res.headers);
    if (res.body.destroyed) permit.release();
    else res.body.once('close', () => permit.release());
    const rawLocation = header(res.headers, 'location');
    const location = rawLocation === undefined ? undefined : repairLatin1(rawLocation);
    if (!REDIRECT_STATUSES.has(res.status) || location === undefined) {
      return { ...res, url, redirects };
    }
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      throw new DlrError('redirect', `redirect to an invalid URL from ${redactUrl(url)}`);
    }
    if (opts.stopAtRedirect && (next.origin !== credentialOrigin || opts.stopAtRedirect({ headers: res.headers, next }))) {
      return { ...res, url, redirects };
    }
    // The redirect's own body is never wanted; drain a little so the
    // connection can be reused, then let it go.
    await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      throw new DlrError('redirect', `refusing redirect to a ${next.protocol} URL from ${redactUrl(url)}`);
    }
    if (redirects + 1 > client.policy.maxRedirects) {
      throw new DlrError('redirect', `more than ${client.policy.maxRedirects} redirects, last to ${redactUrl(next)}`);
    }
    if (seen.has(next.href)) {
      throw new DlrError('redirect', `redirect loop at ${redactUrl(next)}`);
    }
    seen.add(next.href);
    // Userinfo in a Location is the server's, not ours to send anywhere.
    next.username = '';
    next.password = '';
    if (next.origin !== credentialOrigin) headers = withoutCredentials(headers);
    // undici hands a finished connection back to its pool one event-loop turn
    // after the response ends (a setImmediate, against servers that close
    // after all); asking before then would open a second connection.
    if (next.origin === url.origin) await new Promise((resolve) => setImmediate(resolve));
    url = next;
  }
}
