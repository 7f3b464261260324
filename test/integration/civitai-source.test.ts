import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installCivitai, type FakeCivitai } from '../../fixtures/server/civitai.js';
import { makeBytes, sha256, startFaultServer, type FaultServer } from '../../fixtures/server/fault-server.js';
import type { SourceSettings } from '../../src/sources/types.js';
import { fetchViaSource, fileSha } from '../helpers/engine.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const KEY = 'civitai-key-0f9a8b7c6d5e';
const ckptV2 = makeBytes(200_000, 61);
const ckptV1 = makeBytes(150_000, 62);
const pruned = makeBytes(90_000, 63);
const lora = makeBytes(60_000, 64);

let api: FaultServer;
let cdn: FaultServer;
let civitai: FakeCivitai;
let dir: { path: string; cleanup: () => Promise<void> };
let settings: SourceSettings;

beforeEach(async () => {
  api = await startFaultServer();
  cdn = await startFaultServer();
  dir = await makeTempDir();
  civitai = installCivitai(
    api,
    cdn,
    [
      {
        id: 10,
        name: 'Dream Scape',
        type: 'Checkpoint',
        versions: [
          {
            id: 102,
            name: 'v2',
            files: [
              { name: 'DreamScape_v2.safetensors', body: ckptV2, size: 'full', fp: 'fp16' },
              { name: 'DreamScape_v2_pruned.safetensors', body: pruned, type: 'Pruned Model', size: 'pruned', fp: 'fp16' },
            ],
          },
          { id: 101, name: 'v1', files: [{ name: 'DreamScape_v1.safetensors', body: ckptV1 }] },
        ],
      },
      { id: 20, name: 'City', type: 'LoCon', versions: [{ id: 201, name: 'v1', requireAuth: true, files: [{ name: 'city.safetensors', body: lora }] }] },
      { id: 30, name: 'Soon', type: 'LORA', versions: [{ id: 301, name: 'v1', earlyAccessDeadline: '2026-12-01T00:00:00.000Z', files: [{ name: 'soon.safetensors', body: lora }] }] },
      { id: 40, name: 'Bad', type: 'TextualInversion', versions: [{ id: 401, name: 'v1', files: [{ name: 'bad.pt', body: lora, publishedSha256: sha256(ckptV1) }] }] },
    ],
    KEY,
  );
  settings = { civitaiBaseUrl: api.origin, civitaiApiKey: KEY, hfEndpoint: 'http://127.0.0.1:9', hfToken: undefined };
});

afterEach(async () => {
  await api.close();
  await cdn.close();
  await dir.cleanup();
});

/** The Civitai URL forms users paste, on the configured origin. */
const page = (path: string) => `${api.origin}${path}`;
const cdnSawKey = () => JSON.stringify(cdn.requests).includes(KEY);

describe('Civitai URL forms', () => {
  it.each([
    ['a model page (newest version)', '/models/10', 'DreamScape_v2.safetensors', ckptV2],
    ['a model page with a slug', '/models/10/dream-scape', 'DreamScape_v2.safetensors', ckptV2],
    ['a model page naming a version', '/models/10/dream-scape?modelVersionId=101', 'DreamScape_v1.safetensors', ckptV1],
    ['a download URL', '/api/download/models/101', 'DreamScape_v1.safetensors', ckptV1],
    ['a download URL naming type and format', '/api/download/models/102?type=Pruned%20Model&format=SafeTensor', 'DreamScape_v2_pruned.safetensors', pruned],
  ])('resolves %s to the right file, verified, typed, without the key reaching the CDN', async (_label, path, name, body) => {
    const { result, resolved } = await fetchViaSource(page(path), settings, dir.path);
    expect(result).toMatchObject({ status: 'done', verified: true, path: join(dir.path, name) });
    expect(resolved?.type).toBe('checkpoint');
    expect(await fileSha(join(dir.path, name))).toBe(sha256(body));
    expect(api.requests.filter((r) => r.path.startsWith('/api/download')).every((r) => r.headers.authorization === `Bearer ${KEY}`)).toBe(true);
    expect(cdnSawKey()).toBe(false);
    expect(api.requests.some((r) => r.method === 'HEAD')).toBe(false);
  });

  it('accepts civitai.com and civitai.green URLs, resolving them on the configured origin', async () => {
    for (const host of ['https://civitai.com', 'https://civitai.green']) {
      const { result } = await fetchViaSource(`${host}/models/10?modelVersionId=101`, settings, join(dir.path, host.slice(8)));
      expect(result).toMatchObject({ status: 'done', verified: true });
    }
  });

  it('moves a key pasted as ?token= into the header, so no URL it sends carries it', async () => {
    const { result } = await fetchViaSource(`${page('/api/download/models/201')}?token=${KEY}`, { ...settings, civitaiApiKey: undefined }, dir.path);
    expect(result.status).toBe('done');
    expect(api.requests.every((r) => !r.url.includes(KEY))).toBe(true);
    expect(cdnSawKey()).toBe(false);
  });

  it('sends the URL\'s own ?token= rather than a (stale) configured key', async () => {
    const { result } = await fetchViaSource(`${page('/api/download/models/201')}?token=${KEY}`, { ...settings, civitaiApiKey: 'stale-config-key' }, dir.path);
    expect(result.status).toBe('done');
    const downloads = api.requests.filter((r) => r.path.startsWith('/api/download'));
    expect(downloads.length).toBeGreaterThan(0);
    expect(downloads.every((r) => r.headers.authorization === `Bearer ${KEY}`)).toBe(true);
  });

  it('refuses a Civitai URL that is neither a model page nor a download URL', async () => {
    const { error } = await fetchViaSource(page('/images/123'), settings, dir.path);
    expect(error).toMatchObject({ code: 'invalid-row' });
  });
});

describe('Civitai errors, told apart', () => {
  it('says how to set the key when the creator requires login and no key is set', async () => {
    const { result } = await fetchViaSource(page('/api/download/models/201'), { ...settings, civitaiApiKey: undefined }, dir.path, { name: 'city.safetensors' });
    expect(result).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'auth-required' } });
    if (result.status === 'failed') expect(result.error.message).toMatch(/logged in.*set api_key in the config, or CIVITAI_TOKEN/);
  });

  it('treats a wrong key like no key (Civitai goes anonymous)', async () => {
    const { result } = await fetchViaSource(page('/api/download/models/201'), { ...settings, civitaiApiKey: 'wrong' }, dir.path, { name: 'c.safetensors' });
    expect(result).toMatchObject({ status: 'failed', error: { code: 'auth-required' } });
  });

  it('shows the early-access deadline', async () => {
    const { result } = await fetchViaSource(page('/models/30'), settings, dir.path);
    expect(result).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'forbidden' } });
    if (result.status === 'failed') expect(result.error.message).toMatch(/Early Access until 2026-12-01/);
  });

  it("reports a vanished model with the API's own message", async () => {
    const { error } = await fetchViaSource(page('/models/999'), settings, dir.path);
    expect(error).toMatchObject({ code: 'not-found' });
    expect(error?.message).toMatch(/Civitai: status 404|not found/i);
  });

  it('asks Civitai for a new signed link when the CDN says the old one expired', async () => {
    civitai.expireNextLink(101);
    const { result, events } = await fetchViaSource(page('/api/download/models/101'), settings, dir.path);
    expect(events.find((e) => e.type === 'retry')).toMatchObject({ code: 'forbidden' });
    expect(result).toMatchObject({ status: 'done', verified: true });
    expect(civitai.issued).toHaveLength(2);
    expect(new Set(civitai.issued).size).toBe(2);
  });

  it('retries a 429 from the download route (no Retry-After, as Civitai sends it)', async () => {
    api.script('/api/download/models/101', { kind: 'status', status: 429, body: JSON.stringify({ error: "We've noticed an unusual amount of downloading" }) });
    const { result } = await fetchViaSource(page('/api/download/models/101'), settings, dir.path);
    expect(result).toMatchObject({ status: 'done', retries: 1 });
  });

  it('retries a 429 from the metadata API too', async () => {
    api.script('/api/v1/model-versions/101', { kind: 'status', status: 429 });
    const { result } = await fetchViaSource(page('/models/10?modelVersionId=101'), settings, dir.path);
    expect(result).toMatchObject({ status: 'done' });
    expect(api.requestsTo('/api/v1/model-versions/101')).toHaveLength(2);
  });

  it('refuses an HTML page from Civitai where the redirect to the model should be, before writing a byte', async () => {
    api.script('/api/download/models/101', { kind: 'status', status: 200, body: '<!doctype html><p>maintenance</p>', headers: { 'content-type': 'text/html; charset=utf-8' } });
    const { result } = await fetchViaSource(page('/api/download/models/101'), settings, dir.path);
    expect(result).toMatchObject({ status: 'failed', error: { code: 'invalid-response' } });
    if (result.status === 'failed') expect(result.error.message).toMatch(/HTML page instead of the model/);
    expect(await readdir(dir.path)).toEqual([]);
  });

  it("refuses an HTML page from the CDN by its length, far from the API's size, before writing a byte", async () => {
    cdn.setFile('/model/101/DreamScape_v1.safetensors', { body: Buffer.from('<!doctype html><p>maintenance</p>'), contentType: 'text/html; charset=utf-8' });
    const { result } = await fetchViaSource(page('/api/download/models/101'), settings, dir.path);
    expect(result).toMatchObject({ status: 'failed', error: { code: 'invalid-response' } });
    expect(await readdir(dir.path)).toEqual([]);
  });

  it('treats a redirect to the login page as auth-required', async () => {
    api.script('/api/download/models/101', { kind: 'redirect', status: 307, location: '/login?reason=download-auth&returnUrl=%2Fmodels%2F10' });
    api.route('/login', (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>'));
    const { result } = await fetchViaSource(page('/api/download/models/101'), settings, dir.path);
    expect(result).toMatchObject({ status: 'failed', error: { code: 'auth-required' } });
  });

  it('fails a file whose bytes do not match the published SHA-256 with hash-mismatch after one fresh try', async () => {
    const { result, resolved } = await fetchViaSource(page('/models/40'), settings, dir.path);
    expect(resolved?.type).toBe('embedding');
    expect(result).toMatchObject({ status: 'failed', attempts: 2, error: { code: 'hash-mismatch' } });
    expect(await readdir(dir.path)).toEqual([]);
  });
});
