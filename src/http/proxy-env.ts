import { BlockList, isIP } from 'node:net';
import { UsageError } from '../errors.js';

/**
 * Which proxy, if any, a URL goes through: the environment variables curl
 * reads, with curl's rules (curl's `Curl_check_noproxy`, documented in
 * curl(1) under --noproxy and ENVIRONMENT):
 * - `https_proxy` for https URLs, `http_proxy` for http ones, else
 *   `all_proxy`; the lower-case name wins over the upper-case one.
 *   (curl ignores upper-case HTTP_PROXY because of CGI's "httpoxy"; dlr is
 *   never a CGI script and many setups export only HTTP_PROXY, so it reads it.)
 * - `no_proxy`: comma-separated; `*` alone matches every host. A host name
 *   matches an entry equal to it or to one of its parent domains (a leading
 *   dot in the entry is ignored: `.example.com` and `example.com` both match
 *   `example.com` and `a.example.com`). An IP address matches only an IP
 *   entry: the same address, or a CIDR range (`127.0.0.0/8`, `::1/128`);
 *   `.0.0.1` is a domain suffix and never matches 127.0.0.1. An entry may
 *   name a port (`host:8080`, `[::1]:8080`); then only that port matches.
 */
export interface ProxyEnv {
  readonly http: URL | undefined;
  readonly https: URL | undefined;
  readonly noProxy: NoProxy;
}

/** Caps on untrusted environment input: a list this long is a mistake, not a configuration. */
const MAX_NO_PROXY_ENTRIES = 4096;

export function readProxyEnv(env: Readonly<Record<string, string | undefined>>): ProxyEnv {
  const pick = (name: string) => nonEmpty(env[name.toLowerCase()]) ?? nonEmpty(env[name.toUpperCase()]);
  const all = pick('all_proxy');
  return {
    http: proxyUrl(pick('http_proxy') ?? all, 'http_proxy'),
    https: proxyUrl(pick('https_proxy') ?? all, 'https_proxy'),
    noProxy: parseNoProxy(pick('no_proxy') ?? ''),
  };
}

function proxyUrl(value: string | undefined, name: string): URL | undefined {
  if (value === undefined) return undefined;
  // As curl: a proxy without a scheme is an http:// proxy.
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`${name} is not a valid proxy URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${name}: ${url.protocol} proxies are not supported (http:// or https:// only)`);
  }
  return url;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

interface NameEntry {
  readonly name: string;
  readonly port: string | undefined;
}

interface IpEntry {
  readonly list: BlockList;
  readonly port: string | undefined;
}

export class NoProxy {
  readonly #all: boolean;
  readonly #names: readonly NameEntry[];
  readonly #ips: readonly IpEntry[];

  constructor(all: boolean, names: readonly NameEntry[], ips: readonly IpEntry[]) {
    this.#all = all;
    this.#names = names;
    this.#ips = ips;
  }

  /** Whether a request to `url` goes straight to the server. */
  matches(url: URL): boolean {
    if (this.#all) return true;
    const host = url.hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
    const port = url.port || (url.protocol === 'https:' ? '443' : '80');
    const family = isIP(host);
    if (family !== 0) {
      const type = family === 4 ? 'ipv4' : 'ipv6';
      return this.#ips.some((e) => (e.port === undefined || e.port === port) && e.list.check(host, type));
    }
    return this.#names.some(
      (e) => (e.port === undefined || e.port === port) && (host === e.name || host.endsWith(`.${e.name}`)),
    );
  }
}

export function parseNoProxy(value: string): NoProxy {
  const names: NameEntry[] = [];
  const ips: IpEntry[] = [];
  let all = false;
  const entries = value.split(/[,\s]+/).slice(0, MAX_NO_PROXY_ENTRIES);
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') {
      all = true;
      continue;
    }
    const { host, port } = splitPort(entry);
    const [address, bits] = host.split('/', 2) as [string, string | undefined];
    const family = isIP(address);
    if (family !== 0) {
      const list = new BlockList();
      const type = family === 4 ? 'ipv4' : 'ipv6';
      const prefix = bits === undefined ? (family === 4 ? 32 : 128) : Number(bits);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) continue;
      list.addSubnet(address, prefix, type);
      ips.push({ list, port });
      continue;
    }
    const name = host.replace(/^\.+/, '').replace(/\.$/, '');
    if (name !== '') names.push({ name, port });
  }
  return new NoProxy(all, names, ips);
}

function splitPort(entry: string): { host: string; port: string | undefined } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { host: bracketed[1]!, port: bracketed[2] };
  // One colon: host:port. More: a bare IPv6 address (with or without /bits).
  const colons = entry.split(':').length - 1;
  if (colons === 1) {
    const [host, port] = entry.split(':') as [string, string];
    if (/^\d+$/.test(port)) return { host, port };
  }
  return { host: entry, port: undefined };
}
