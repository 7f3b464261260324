import { createRequire } from 'node:module';
import type {
  Agent as AgentClass,
  buildConnector as buildConnectorFn,
  Dispatcher as DispatcherClass,
  Pool as PoolClass,
  ProxyAgent as ProxyAgentClass,
} from 'undici';

/**
 * The part of undici dlr uses, loaded from its own modules rather than
 * through `undici`'s index: the index also loads fetch, WebSocket, the cache
 * stores and more, ~10 MB of resident memory a download never uses
 * (measured: 60 → 51 MB after load; a 1 GiB download peaks at 97 instead of
 * 106 MB). undici has no `exports` map and the lock file pins the version;
 * the tests exercise every piece, so a moved file fails loudly.
 */
const require = createRequire(import.meta.url);

export const DispatcherBase = require('undici/lib/dispatcher/dispatcher.js') as typeof DispatcherClass;
// Exactly what undici's index does: request/stream/pipeline/upgrade/connect
// are installed on the Dispatcher prototype (ProxyAgent needs `connect`).
Object.assign(DispatcherBase.prototype, require('undici/lib/api/index.js') as object);

export const Agent = require('undici/lib/dispatcher/agent.js') as typeof AgentClass;
export const Pool = require('undici/lib/dispatcher/pool.js') as typeof PoolClass;
export const ProxyAgent = require('undici/lib/dispatcher/proxy-agent.js') as typeof ProxyAgentClass;
export const buildConnector = require('undici/lib/core/connect.js') as typeof buildConnectorFn;

export type { Dispatcher } from 'undici';
