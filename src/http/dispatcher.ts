import { EnvHttpProxyAgent, type Dispatcher } from './undici.js';
import type { ResolvedPolicy } from '../options.js';

/**
 * The one keep-alive dispatcher of a run: every request (probes, redirects,
 * retries, later segmented transfers) goes through it, so connections are
 * reused. EnvHttpProxyAgent reads HTTP_PROXY / HTTPS_PROXY / NO_PROXY (and
 * their lower-case forms) the way curl does.
 */
export function createDispatcher(policy: Pick<ResolvedPolicy, 'connectTimeoutMs' | 'idleTimeoutMs'>): Dispatcher {
  return new EnvHttpProxyAgent({
    connect: { timeout: policy.connectTimeoutMs },
    headersTimeout: policy.idleTimeoutMs,
    bodyTimeout: policy.idleTimeoutMs,
  });
}
