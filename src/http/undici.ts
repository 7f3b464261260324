import { createRequire } from 'node:module';
import type { Dispatcher, EnvHttpProxyAgent as EnvHttpProxyAgentClass } from 'undici';

/**
 * The part of undici dlr uses, loaded from its own modules rather than
 * through `undici`'s index: the index also loads fetch, WebSocket, the cache
 * stores and more, ~10 MB of resident memory a download never uses
 * (measured: 60 → 51 MB after load; a 1 GiB download peaks at 97 instead of
 * 106 MB). undici has no `exports` map and the lock file pins the version;
 * the tests exercise every piece, so a moved file fails loudly.
 */
const require = createRequire(import.meta.url);

const DispatcherBase = require('undici/lib/dispatcher/dispatcher.js') as { prototype: object };
// Exactly what undici's index does: request/stream/pipeline/upgrade/connect
// are installed on the Dispatcher prototype (ProxyAgent needs `connect`).
Object.assign(DispatcherBase.prototype, require('undici/lib/api/index.js') as object);

export const EnvHttpProxyAgent = require('undici/lib/dispatcher/env-http-proxy-agent.js') as typeof EnvHttpProxyAgentClass;

export type { Dispatcher };
