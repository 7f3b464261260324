import { rootCertificates } from 'node:tls';
import { DlrError, MAX_HEADER_KIB } from '../errors.js';
import type { ResolvedPolicy } from '../options.js';
import { redactUrl } from './credentials.js';
import { readProxyEnv, type ProxyEnv } from './proxy-env.js';
import { holdableConnector, type Connector } from './socket-hold.js';
import type { Agent as AgentType, Pool as PoolType } from 'undici';
import { Agent, buildConnector, DispatcherBase, Pool, ProxyAgent, type Dispatcher } from './undici.js';

export interface NetworkOptions {
  /** PEM certificates trusted besides the system's (`--cacert`). */
  readonly extraCaPem?: string;
  /** Where HTTP(S)_PROXY and NO_PROXY are read; default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * The one keep-alive dispatcher of a run: every request (probes, redirects,
 * retries, later segmented transfers) goes through it, so connections are
 * reused. It routes each origin straight to the server or through the
 * proxy the environment names, with curl's rules (proxy-env.ts):
 * - https URLs are tunnelled with CONNECT; plain http URLs are sent to the
 *   proxy as ordinary absolute-form requests (`GET http://host/path`), as
 *   curl does, so a proxy that allows CONNECT only to port 443 still serves them;
 * - a proxy that cannot be reached, refuses (403) or wants credentials (407)
 *   fails with code `proxy`, naming the proxy.
 * Every socket is made holdable (socket-hold.ts), which is how a body's
 * memory is bounded.
 */
export function createDispatcher(
  policy: Pick<ResolvedPolicy, 'connectTimeoutMs' | 'idleTimeoutMs'>,
  network: NetworkOptions = {},
): Dispatcher {
  const proxies = readProxyEnv(network.env ?? process.env);
  const tls = network.extraCaPem === undefined ? {} : { ca: [...rootCertificates, network.extraCaPem] };
  const connect = holdableConnector(buildConnector({ ...tls, timeout: policy.connectTimeoutMs }) as Connector);
  // Per-origin pools whose sockets are all holdable, whichever connector made
  // them (direct, a CONNECT tunnel, a TLS session inside a tunnel).
  const factory = (origin: string | URL, options: object) => {
    const given = (options as { connect?: unknown }).connect;
    const own = typeof given === 'function' ? holdableConnector(given as Connector) : connect;
    return new Pool(origin, { ...(options as PoolType.Options), connect: own as unknown as PoolType.Options['connect'] });
  };
  const common = {
    headersTimeout: policy.idleTimeoutMs,
    bodyTimeout: policy.idleTimeoutMs,
    maxHeaderSize: MAX_HEADER_KIB * 1024,
  };
  const direct = new Agent({ ...common, factory, connect: connect as unknown as AgentType.Options['connect'] });
  const viaProxy = (proxy: URL | undefined) =>
    proxy === undefined
      ? undefined
      : new ProxyAgent({
          ...common,
          uri: proxy.href,
          factory,
          proxyTunnel: false,
          proxyTls: { ...tls, timeout: policy.connectTimeoutMs },
          requestTls: { ...tls, timeout: policy.connectTimeoutMs },
        });
  return new RoutingDispatcher(proxies, direct, viaProxy(proxies.http), viaProxy(proxies.https));
}

/** Connect-time errnos: through a proxy these can only be about the proxy itself. */
const CONNECT_ERRNOS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

class RoutingDispatcher extends DispatcherBase {
  readonly #env: ProxyEnv;
  readonly #direct: Dispatcher;
  readonly #http: Dispatcher | undefined;
  readonly #https: Dispatcher | undefined;

  constructor(env: ProxyEnv, direct: Dispatcher, http: Dispatcher | undefined, https: Dispatcher | undefined) {
    super();
    this.#env = env;
    this.#direct = direct;
    this.#http = http;
    this.#https = https;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const origin = new URL(String(options.origin));
    const https = origin.protocol === 'https:';
    const proxy = https ? this.#env.https : this.#env.http;
    const through = https ? this.#https : this.#http;
    if (proxy === undefined || through === undefined || this.#env.noProxy.matches(origin)) {
      return this.#direct.dispatch(options, handler);
    }
    return through.dispatch(options, proxyErrors(handler, proxy, origin));
  }

  override async close(): Promise<void> {
    await Promise.all([this.#direct, this.#http, this.#https].map((d) => d?.close()));
  }

  override async destroy(): Promise<void> {
    await Promise.all([this.#direct, this.#http, this.#https].map((d) => d?.destroy()));
  }
}

/** Turns undici's proxy failures into one line that names the proxy. */
function proxyErrors(handler: Dispatcher.DispatchHandler, proxy: URL, origin: URL): Dispatcher.DispatchHandler {
  let started = false;
  const name = `proxy ${redactUrl(proxy).replace(/\/$/, '')}`;
  const translate = (error: Error): Error => {
    if (started || error instanceof DlrError) return error;
    const errno = (error as { code?: unknown }).code;
    if (typeof errno === 'string' && CONNECT_ERRNOS.has(errno)) {
      const why = errno === 'ECONNREFUSED' ? 'connection refused' : errno === 'UND_ERR_CONNECT_TIMEOUT' ? 'connect timeout' : errno;
      return new DlrError('proxy', `${name} cannot be reached: ${why}`, { cause: error, detail: errno, retryable: true });
    }
    const status = /Proxy response \((\d{3})\)|\((407)\)/.exec(error.message);
    const code = status?.[1] ?? status?.[2];
    if (code !== undefined) {
      const why =
        code === '407'
          ? 'wants credentials (407): put them in the proxy URL, http://user:pass@host:port'
          : `refused to connect to ${origin.host} (HTTP ${code})`;
      const retryable = code === '502' || code === '503' || code === '504';
      return new DlrError('proxy', `${name} ${why}`, { cause: error, detail: `proxy-${code}`, retryable });
    }
    return error;
  };
  return {
    ...handler,
    onRequestStart: handler.onRequestStart?.bind(handler),
    onResponseStart(controller, statusCode, headers, statusMessage) {
      started = true;
      handler.onResponseStart?.(controller, statusCode, headers, statusMessage);
    },
    onResponseData: handler.onResponseData?.bind(handler),
    onResponseEnd: handler.onResponseEnd?.bind(handler),
    onResponseError(controller, error) {
      handler.onResponseError?.(controller, translate(error));
    },
  };
}
