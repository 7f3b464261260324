import { describe, expect, it } from 'vitest';
import { parseNoProxy, readProxyEnv } from '../../src/http/proxy-env.js';

const matches = (noProxy: string, url: string) => parseNoProxy(noProxy).matches(new URL(url));

describe('NO_PROXY, as curl reads it', () => {
  it('matches IPv4 and IPv6 CIDR ranges', () => {
    expect(matches('127.0.0.0/8', 'http://127.4.5.6:8080/x')).toBe(true);
    expect(matches('10.0.0.0/8', 'http://127.0.0.1/x')).toBe(false);
    expect(matches('::1/128', 'http://[::1]:9000/x')).toBe(true);
    expect(matches('fd00::/8', 'http://[fd12::1]/x')).toBe(true);
  });

  it('matches an IP only as an IP: a domain-like suffix such as .0.0.1 does not match 127.0.0.1', () => {
    expect(matches('.0.0.1', 'http://127.0.0.1/x')).toBe(false);
    expect(matches('0.0.1', 'http://127.0.0.1/x')).toBe(false);
    expect(matches('127.0.0.1', 'http://127.0.0.1/x')).toBe(true);
    expect(matches('127.0.0.2', 'http://127.0.0.1/x')).toBe(false);
  });

  it('matches a host and its subdomains, with or without a leading dot, and no other names', () => {
    for (const entry of ['example.com', '.example.com', 'EXAMPLE.com.']) {
      expect(matches(entry, 'https://example.com/x')).toBe(true);
      expect(matches(entry, 'https://cdn.example.com/x')).toBe(true);
      expect(matches(entry, 'https://badexample.com/x')).toBe(false);
    }
  });

  it('honours * alone, ports, whitespace and empty entries', () => {
    expect(matches('*', 'https://anything.test/x')).toBe(true);
    expect(matches(' a.test , ,localhost:8080', 'http://localhost:8080/x')).toBe(true);
    expect(matches('localhost:8080', 'http://localhost:9090/x')).toBe(false);
    expect(matches('[::1]:9000', 'http://[::1]:9000/x')).toBe(true);
    expect(matches('', 'http://localhost/x')).toBe(false);
  });

  it('stays linear on a hostile list', () => {
    const huge = Array.from({ length: 100_000 }, (_, i) => `h${i}.test`).join(',');
    const started = performance.now();
    expect(matches(huge, 'http://h1.test/x')).toBe(true);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

describe('readProxyEnv', () => {
  it('picks the scheme proxy, lower case over upper case, all_proxy as the fallback, and adds http:// to a bare host:port', () => {
    const env = readProxyEnv({ http_proxy: 'lower:1', HTTP_PROXY: 'http://upper:2', ALL_PROXY: 'http://all:3' });
    expect(env.http?.href).toBe('http://lower:1/');
    expect(env.https?.href).toBe('http://all:3/');
  });

  it('refuses a proxy scheme it cannot speak, naming the variable', () => {
    expect(() => readProxyEnv({ https_proxy: 'socks5://127.0.0.1:1080' })).toThrow(/https_proxy: socks5: proxies are not supported/);
  });
});
