import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHttpClient } from '../../src/http/client.js';
import { makeBytes, sha256, startFaultServer, type FaultServer } from '../../fixtures/server/fault-server.js';
import { fileSha, runDownload } from '../helpers/engine.js';
import { fastPolicy } from '../helpers/policy.js';
import { makeTempDir } from '../helpers/temp-dir.js';

let api: FaultServer;
let cdn: FaultServer;
let dir: { path: string; cleanup: () => Promise<void> };
const body = makeBytes(250_000, 31);
const SECRET = 'sk-test-5f3c9e-do-not-leak';

beforeEach(async () => {
  api = await startFaultServer();
  cdn = await startFaultServer();
  dir = await makeTempDir();
  cdn.setFile('/model/signed.safetensors', { body, contentDisposition: 'attachment; filename="real.safetensors"' });
});

afterEach(async () => {
  await api.close();
  await cdn.close();
  await dir.cleanup();
});

function everythingCdnSaw(): string {
  return JSON.stringify(cdn.requests);
}

describe('redirects', () => {
  it.each([301, 302, 303, 307, 308])('follows a %i to another origin and strips every credential', async (status) => {
    api.script('/api/download/models/1', { kind: 'redirect', status, location: cdn.url('/model/signed.safetensors?X-Amz-Signature=abc') });
    const { result } = await runDownload({
      url: `${api.url('/api/download/models/1')}?token=${SECRET}`,
      dest: { dir: dir.path },
      headers: { authorization: `Bearer ${SECRET}`, cookie: `session=${SECRET}` },
    });
    expect(result).toMatchObject({ status: 'done', path: join(dir.path, 'real.safetensors') });
    expect(await fileSha(join(dir.path, 'real.safetensors'))).toBe(sha256(body));
    // The origin the key was given for received it…
    expect(api.requests[0]?.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(api.requests[0]?.headers.cookie).toBe(`session=${SECRET}`);
    // …the CDN never did, in any header or in the URL.
    expect(cdn.requests).toHaveLength(1);
    expect(everythingCdnSaw()).not.toContain(SECRET);
    expect(cdn.requests[0]?.headers.authorization).toBeUndefined();
  });

  it('keeps credentials on same-origin (relative) redirects, as the Hugging Face hub needs', async () => {
    api.script('/org/repo/resolve/main/config.json', { kind: 'redirect', status: 307, location: '/api/resolve-cache/models/org/repo/abc/config.json' });
    api.setFile('/api/resolve-cache/models/org/repo/abc/config.json', { body: Buffer.from('{"a":1}') });
    const { result } = await runDownload({
      url: api.url('/org/repo/resolve/main/config.json'),
      dest: { dir: dir.path },
      headers: { authorization: `Bearer ${SECRET}` },
    });
    expect(result.status).toBe('done');
    expect(api.requests.map((r) => r.headers.authorization)).toEqual([`Bearer ${SECRET}`, `Bearer ${SECRET}`]);
  });

  it('does not send credentials again when a chain leaves the origin and comes back', async () => {
    api.script('/start', { kind: 'redirect', location: cdn.url('/bounce') });
    cdn.script('/bounce', { kind: 'redirect', location: api.url('/final.bin') });
    api.setFile('/final.bin', { body });
    const { result } = await runDownload({ url: api.url('/start'), dest: { dir: dir.path }, headers: { authorization: `Bearer ${SECRET}` } });
    expect(result.status).toBe('done');
    expect(api.requestsTo('/final.bin')[0]?.headers.authorization).toBeUndefined();
  });

  it('turns userinfo into Basic auth for its own origin only', async () => {
    api.script('/u', { kind: 'redirect', location: cdn.url('/model/signed.safetensors') });
    const url = api.url('/u').replace('http://', `http://user:${SECRET}@`);
    const { result } = await runDownload({ url, dest: { dir: dir.path } });
    expect(result.status).toBe('done');
    expect(api.requests[0]?.headers.authorization).toMatch(/^Basic /);
    expect(everythingCdnSaw()).not.toContain(Buffer.from(`user:${SECRET}`).toString('base64'));
  });

  it('keeps Range and If-Range through the redirect when resuming', async () => {
    api.script('/d', { kind: 'redirect', location: cdn.url('/model/signed.safetensors') }, { kind: 'redirect', location: cdn.url('/model/signed.safetensors') });
    cdn.script('/model/signed.safetensors', { kind: 'reset-after', bytes: 80_000 });
    const { result } = await runDownload({ url: api.url('/d'), dest: { dir: dir.path, name: 'x.safetensors' } });
    expect(result.status).toBe('done');
    expect(api.requests[1]?.headers.range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(cdn.requests[1]?.headers.range).toBe(api.requests[1]?.headers.range);
    expect(cdn.requests[1]?.headers['if-range']).toBeDefined();
    expect(await fileSha(join(dir.path, 'x.safetensors'))).toBe(sha256(body));
  });

  it('starts every retry from the original URL, not from a stale redirect target', async () => {
    api.script('/d', { kind: 'redirect', location: cdn.url('/model/signed.safetensors?sig=1') }, { kind: 'redirect', location: cdn.url('/model/signed.safetensors?sig=2') });
    cdn.script('/model/signed.safetensors', { kind: 'status', status: 503 });
    const { result } = await runDownload({ url: api.url('/d'), dest: { dir: dir.path } });
    expect(result.status).toBe('done');
    expect(api.requestsTo('/d')).toHaveLength(2);
    expect(cdn.requests.map((r) => r.url)).toEqual(['/model/signed.safetensors?sig=1', '/model/signed.safetensors?sig=2']);
  });

  it('fails a redirect loop as redirect, without retrying', async () => {
    api.script('/a', { kind: 'redirect', location: '/b' });
    api.script('/b', { kind: 'redirect', location: '/a' });
    const { result } = await runDownload({ url: api.url('/a'), dest: { dir: dir.path } });
    expect(result).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'redirect' } });
  });

  it('stops after the configured number of redirects', async () => {
    for (let i = 0; i < 5; i++) api.script(`/r${i}`, { kind: 'redirect', location: `/r${i + 1}` });
    const { result } = await runDownload({ url: api.url('/r0'), dest: { dir: dir.path } }, { policy: { maxRedirects: 3 } });
    expect(result).toMatchObject({ status: 'failed', error: { code: 'redirect' } });
    expect(api.requests).toHaveLength(4);
  });

  it.each(['file:///etc/passwd', 'ftp://example.invalid/x', 'javascript:alert(1)', 'data:text/plain,hi'])(
    'refuses a redirect to %s',
    async (location) => {
      api.script('/x', { kind: 'redirect', location });
      const { result } = await runDownload({ url: api.url('/x'), dest: { dir: dir.path } });
      expect(result).toMatchObject({ status: 'failed', error: { code: 'redirect' } });
    },
  );
});

describe('proxies', () => {
  let proxy: Server;
  let seen: string[];
  const saved = { ...process.env };

  beforeEach(async () => {
    seen = [];
    const sockets = new Set<Socket>();
    proxy = createServer((req, res) => {
      // Absolute-form request (plain HTTP proxying).
      seen.push(`${req.method} ${req.url}`);
      const target = new URL(req.url ?? '');
      const upstream = httpRequest(target, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      req.pipe(upstream);
    });
    proxy.on('connect', (req, client: Socket, head) => {
      seen.push(`CONNECT ${req.url}`);
      const [host, port] = (req.url ?? '').split(':');
      const upstream = connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      sockets.add(upstream).add(client);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    proxy.on('close', () => sockets.forEach((s) => s.destroy()));
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  });

  afterEach(async () => {
    for (const key of ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy']) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
    proxy.closeAllConnections();
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
  });

  /** Downloads through a dispatcher made after the proxy variables are set, as a run would. */
  async function downloadWithProxyEnv(env: Record<string, string>) {
    for (const key of ['HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy']) delete process.env[key];
    Object.assign(process.env, { HTTP_PROXY: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` }, env);
    const client = createHttpClient({ policy: fastPolicy() });
    try {
      return (await runDownload({ url: cdn.url('/model/signed.safetensors'), dest: { dir: dir.path } }, { client })).result;
    } finally {
      await client.close();
    }
  }

  it('goes through HTTP_PROXY, like curl', async () => {
    expect((await downloadWithProxyEnv({})).status).toBe('done');
    expect(seen.length).toBeGreaterThan(0);
    expect(seen[0]).toContain(`127.0.0.1:${cdn.port}`);
  });

  it('bypasses the proxy for hosts in NO_PROXY', async () => {
    expect((await downloadWithProxyEnv({ NO_PROXY: '127.0.0.1' })).status).toBe('done');
    expect(seen).toEqual([]);
  });
});
