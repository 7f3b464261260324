import { budgetResolver } from '../limiter/budgets.js';
import { MemoryLimiter, type OriginEvent } from '../limiter/memory-limiter.js';
import type { OriginBudget, RequestLimiter } from '../limiter/types.js';
import type { ResolvedPolicy } from '../options.js';
import { createDispatcher, type NetworkOptions } from './dispatcher.js';
import { sendRequest, type ExchangeEvent, type HttpRequest, type HttpResponse, type SendOptions } from './request.js';
import type { Dispatcher } from './undici.js';

/**
 * The one network client of a run: the transfer policy, the keep-alive
 * dispatcher and the origin limiter, built once and passed as one thing to
 * every part that talks to a server (API lookups, probes, downloads).
 */
export class HttpClient {
  constructor(
    readonly policy: ResolvedPolicy,
    readonly dispatcher: Dispatcher,
    readonly limiter: RequestLimiter,
    readonly userAgent?: string,
    readonly onExchange?: (event: ExchangeEvent) => void,
  ) {}

  /** One request through the request path: limiter, redirects, credential rule. */
  send(req: HttpRequest, options: SendOptions = {}): Promise<HttpResponse> {
    return sendRequest(req, this, options);
  }

  close(): Promise<void> {
    return this.dispatcher.close().catch(() => undefined);
  }
}

export interface HttpClientOptions {
  readonly policy: ResolvedPolicy;
  readonly network?: NetworkOptions;
  /** The config's `origins` table (merged over the built-in budgets). */
  readonly origins?: Readonly<Record<string, Partial<OriginBudget>>>;
  /** `--limit-rate`: the whole run's download rate; 0 or undefined = none. */
  readonly limitRateBytesPerSec?: number;
  /** Rates learned by earlier runs (the state file). */
  readonly learned?: Readonly<Record<string, number>>;
  readonly onOriginEvent?: (event: OriginEvent) => void;
  /** A limiter to use instead of the in-process one (a fleet's). */
  readonly limiter?: RequestLimiter;
  /** `--user-agent`: sent instead of dlr's own on every request. */
  readonly userAgent?: string;
  /** `-v`: every hop of every request, as it is sent and answered. */
  readonly onExchange?: (event: ExchangeEvent) => void;
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const { policy } = options;
  const limiter =
    options.limiter ??
    new MemoryLimiter({
      budgetFor: budgetResolver(options.origins),
      ...(options.limitRateBytesPerSec !== undefined ? { limitRateBytesPerSec: options.limitRateBytesPerSec } : {}),
      pauseWithoutHeaderMs: policy.retryDelaysMs[0] ?? 1_000,
      maxPauseMs: policy.maxRetryAfterMs,
      unreachableDelaysMs: policy.retryDelaysMs,
      ...(options.learned ? { learned: options.learned } : {}),
      ...(options.onOriginEvent ? { onOriginEvent: options.onOriginEvent } : {}),
    });
  return new HttpClient(policy, createDispatcher(policy, options.network), limiter, options.userAgent, options.onExchange);
}
