import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { installCivitai } from '../../fixtures/server/civitai.js';
import { makeBytes, sha256 } from '../../fixtures/server/fault-server.js';
import type { SourceSettings } from '../../src/sources/types.js';
import { USER_AGENT } from '../../src/version.js';
import { fetchViaSource, fileSha } from '../helpers/engine.js';
import { useSiteWithCdn } from '../helpers/site-context.js';

const KEY = 'civitai-key-file-choice-31ab';
const vae = makeBytes(30_000, 91);
const full = makeBytes(70_000, 92);
const pruned = makeBytes(50_000, 93);
const workflow = Buffer.from(JSON.stringify({ nodes: [{ id: 1, type: 'KSampler' }] }));

const t = useSiteWithCdn((site, cdn) =>
  installCivitai(
    site,
    cdn,
    [
      {
        id: 50,
        name: 'Multi',
        type: 'Checkpoint',
        versions: [
          {
            id: 501,
            name: 'v1',
            // File ids are versionId * 100 + index: 50100 … 50103. The primary file is not listed first.
            files: [
              { name: 'Multi_vae.safetensors', body: vae, type: 'VAE' },
              { name: 'Multi_full.safetensors', body: full, size: 'full', fp: 'fp32' },
              { name: 'Multi_pruned.safetensors', body: pruned, size: 'pruned', fp: 'fp16', primary: true },
              { name: 'Multi_workflow.json', body: workflow, type: 'Workflow', format: 'Other', contentType: 'application/json' },
            ],
          },
        ],
      },
      { id: 60, name: 'Locked', type: 'LORA', versions: [{ id: 601, name: 'v1', downloadsDisabled: true, files: [{ name: 'locked.safetensors', body: vae }] }] },
    ],
    KEY,
  ),
);
const settings = (): SourceSettings => ({ civitaiBaseUrl: t.site.origin, civitaiApiKey: KEY, hfEndpoint: 'http://127.0.0.1:9', hfToken: undefined });

const page = (path: string) => `${t.site.origin}${path}`;
const downloadRequests = () => t.site.requests.filter((r) => r.path === '/api/download/models/501');

describe('Civitai: which file of a version', () => {
  it('downloads the file ?fileId= names, and asks the download route for that same file', async () => {
    const { result, resolved } = await fetchViaSource(page('/api/download/models/501?fileId=50101'), settings(), t.dir);
    expect(result).toMatchObject({ status: 'done', verified: true, path: join(t.dir, 'Multi_full.safetensors') });
    expect(await fileSha(join(t.dir, 'Multi_full.safetensors'))).toBe(sha256(full));
    expect(resolved?.url.searchParams.get('fileId')).toBe('50101');
    expect(downloadRequests().every((r) => new URL(r.url, 'http://x').searchParams.get('fileId') === '50101')).toBe(true);
  });

  it('fails a fileId the version does not have as not-found, before any download', async () => {
    const { error } = await fetchViaSource(page('/api/download/models/501?fileId=99'), settings(), t.dir);
    expect(error).toMatchObject({ code: 'not-found' });
    expect(downloadRequests()).toEqual([]);
  });

  it.each([
    ['a download URL', '/api/download/models/501'],
    ['a model page', '/models/50'],
  ])('takes the primary file when %s names no file, even when it is not listed first', async (_label, path) => {
    const { result } = await fetchViaSource(page(path), settings(), t.dir);
    expect(result).toMatchObject({ status: 'done', verified: true, path: join(t.dir, 'Multi_pruned.safetensors') });
    expect(await readdir(t.dir)).toEqual(['Multi_pruned.safetensors']);
  });

  it.each([['?type=Model'], ['?format=SafeTensor']])('prefers the primary file among several that %s matches, as the download route does', async (query) => {
    const { result } = await fetchViaSource(page(`/api/download/models/501${query}`), settings(), t.dir);
    expect(result).toMatchObject({ status: 'done', verified: true, path: join(t.dir, 'Multi_pruned.safetensors') });
  });

  it('still takes the one file the selectors allow when it is not the primary', async () => {
    const { result } = await fetchViaSource(page('/api/download/models/501?size=full'), settings(), t.dir);
    expect(result).toMatchObject({ status: 'done', verified: true, path: join(t.dir, 'Multi_full.safetensors') });
  });
});

describe('Civitai: answers told apart', () => {
  it('saves a Workflow file the CDN serves as JSON: only Civitai itself answering JSON is an error page', async () => {
    const { result } = await fetchViaSource(page('/api/download/models/501?type=Workflow'), settings(), t.dir);
    expect(result).toMatchObject({ status: 'done', verified: true });
    expect(await readFile(join(t.dir, 'Multi_workflow.json'))).toEqual(workflow);
  });

  it('refuses JSON from the download route itself (no redirect to the file), before writing a byte', async () => {
    t.site.script('/api/download/models/501', { kind: 'status', status: 200, body: JSON.stringify({ error: 'maintenance' }) });
    const { result } = await fetchViaSource(page('/api/download/models/501'), settings(), t.dir);
    expect(result).toMatchObject({ status: 'failed', error: { code: 'invalid-response' } });
    if (result.status === 'failed') expect(result.error.message).toMatch(/JSON instead of the model file/);
    expect(await readdir(t.dir)).toEqual([]);
  });

  it('fails a version whose creator disabled downloads as forbidden, without an API-key hint', async () => {
    const { result } = await fetchViaSource(page('/models/60'), settings(), t.dir);
    expect(result).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'forbidden' } });
    if (result.status === 'failed') {
      expect(result.error.message).toMatch(/disabled downloads/);
      expect(result.error.message).not.toMatch(/api_key|CIVITAI_TOKEN/);
    }
  });

  it('names itself with the same User-Agent on the API calls as on the download', async () => {
    await fetchViaSource(page('/models/50'), settings(), t.dir);
    const apiCalls = t.site.requests.filter((r) => r.path.startsWith('/api/v1/'));
    expect(apiCalls.length).toBeGreaterThan(0);
    for (const r of [...apiCalls, ...downloadRequests()]) expect(r.headers['user-agent']).toBe(USER_AGENT);
  });
});
