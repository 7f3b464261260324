import { UsageError } from '../errors.js';

/** A coordinator address, checked: `redis://[user:pass@]host:port[/db]` or `rediss://…`. */
export interface CoordinatorAddress {
  /** As given (with its credentials): what the Redis client connects to. */
  readonly url: string;
  /** For messages and `fleet status`: scheme, host, port and db, never the credentials. */
  readonly shown: string;
}

/** A URL is a few dozen characters; a huge one is not an address. */
const MAX_URL_CHARS = 2048;

/**
 * Checks a coordinator URL up front, so a typo is a usage error (exit 2)
 * rather than an unreachable coordinator (exit 75, which cron retries forever).
 */
export function parseCoordinatorUrl(text: string, from: string): CoordinatorAddress {
  const given = text.trim();
  if (given.length > MAX_URL_CHARS) throw new UsageError(`${from}: the coordinator URL is longer than ${MAX_URL_CHARS} characters`);
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    throw new UsageError(`${from}: '${shownRaw(given)}' is not a URL; expected redis://[user:pass@]host:port[/db]`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new UsageError(`${from}: the coordinator must be a redis:// or rediss:// URL, got ${url.protocol}//`);
  }
  if (url.hostname === '') throw new UsageError(`${from}: the coordinator URL names no host`);
  const db = url.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d{1,5}$/.test(db)) throw new UsageError(`${from}: the database in the coordinator URL must be a number, got '${db}'`);
  if (url.search !== '' || url.hash !== '') throw new UsageError(`${from}: the coordinator URL takes no query or fragment`);
  const port = url.port === '' ? '6379' : url.port;
  return { url: given, shown: `${url.protocol}//${url.hostname}:${port}${db === '' ? '' : `/${db}`}` };
}

/** A string that failed to parse, with anything that looks like userinfo hidden. */
function shownRaw(text: string): string {
  return text.replace(/\/\/[^@/]*@/, '//***@').slice(0, 200);
}
