import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeBytes, sha256, startFaultServer, type FaultServer } from '../../fixtures/server/fault-server.js';
import { installHub, installHubNotFound } from '../../fixtures/server/huggingface.js';
import type { SourceSettings } from '../../src/sources/types.js';
import { fetchViaSource, fileSha } from '../helpers/engine.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const TOKEN = 'hf_test_token_9d8c7b6a';
const COMMIT = '9d83ecf0a1b2c3d4e5f60718293a4b5c6d7e8f90';
const onnx = makeBytes(250_000, 71);
const config = Buffer.from('{"model_type": "xlm-roberta"}\n');
const tokenizer = makeBytes(80_000, 72);
const REPO = 'Xenova/paraphrase-multilingual-mpnet-base-v2';

let hub: FaultServer;
let cdn: FaultServer;
let dir: { path: string; cleanup: () => Promise<void> };
let settings: SourceSettings;

beforeEach(async () => {
  hub = await startFaultServer();
  cdn = await startFaultServer();
  dir = await makeTempDir();
  installHub(
    hub,
    cdn,
    [
      {
        repo: REPO,
        commit: COMMIT,
        files: [
          { path: 'onnx/model.onnx', body: onnx, lfs: true },
          { path: 'config.json', body: config, lfs: false },
          { path: 'tokenizer.json', body: tokenizer, lfs: true },
        ],
      },
      { repo: 'meta/gated', commit: COMMIT, gated: true, files: [{ path: 'w.safetensors', body: onnx, lfs: true }] },
    ],
    TOKEN,
  );
  settings = { civitaiBaseUrl: 'http://127.0.0.1:9', civitaiApiKey: undefined, hfEndpoint: hub.origin, hfToken: TOKEN };
});

afterEach(async () => {
  await hub.close();
  await cdn.close();
  await dir.cleanup();
});

const resolveUrl = (path: string) => `${hub.origin}/${REPO}/resolve/main/${path}`;

describe('Hugging Face /resolve', () => {
  it('follows the LFS redirect, verifies X-Linked-Etag, pins the commit, and keeps HF_TOKEN off the CDN', async () => {
    const { result, resolved } = await fetchViaSource(resolveUrl('onnx/model.onnx'), settings, dir.path);
    expect(result).toMatchObject({ status: 'done', verified: true, path: join(dir.path, 'model.onnx') });
    expect(resolved?.version).toBe(COMMIT);
    expect(resolved?.url.pathname).toBe(`/${REPO}/resolve/${COMMIT}/onnx/model.onnx`);
    expect(resolved?.expect).toEqual({ sha256: sha256(onnx), size: onnx.length });
    expect(await fileSha(join(dir.path, 'model.onnx'))).toBe(sha256(onnx));
    expect(hub.requests.every((r) => r.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(JSON.stringify(cdn.requests)).not.toContain(TOKEN);
    expect(hub.requests[0]?.method).toBe('HEAD');
  });

  it('downloads a regular (non-LFS) file through the relative, same-origin redirect, with the token', async () => {
    const { result, resolved } = await fetchViaSource(resolveUrl('config.json'), settings, dir.path);
    expect(result).toMatchObject({ status: 'done', verified: false });
    expect(resolved?.expect?.sha256).toBeUndefined();
    expect(await fileSha(join(dir.path, 'config.json'))).toBe(sha256(config));
    expect(hub.requestsTo(`/api/resolve-cache/models/${REPO}/${COMMIT}/config.json`).every((r) => r.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
  });

  it('reads a /blob/ page URL as the file', async () => {
    const { result } = await fetchViaSource(`${hub.origin}/${REPO}/blob/main/tokenizer.json`, settings, dir.path);
    expect(result).toMatchObject({ status: 'done', verified: true });
  });

  it('waits out a 429 on the resolver (the seed incident) and then succeeds', async () => {
    hub.script(`/${REPO}/resolve/main/tokenizer.json`, { kind: 'status', status: 429, headers: { ratelimit: '"resolvers";r=0;t=0' } });
    const { result } = await fetchViaSource(resolveUrl('tokenizer.json'), settings, dir.path);
    expect(result).toMatchObject({ status: 'done', verified: true });
  });

  it('tells a gated repository from a missing file and a bad token', async () => {
    const gated = await fetchViaSource(`${hub.origin}/meta/gated/resolve/main/w.safetensors`, { ...settings, hfToken: undefined }, dir.path);
    expect(gated.error).toMatchObject({ code: 'forbidden' });
    expect(gated.error?.message).toMatch(/gated.*HF_TOKEN/);

    installHubNotFound(hub, `/${REPO}/resolve/main/nope.bin`, 'EntryNotFound');
    const missing = await fetchViaSource(resolveUrl('nope.bin'), settings, dir.path);
    expect(missing.error).toMatchObject({ code: 'not-found' });

    installHubNotFound(hub, '/ghost/repo/resolve/main/x.bin', 'RepoNotFound', 401);
    const ghost = await fetchViaSource(`${hub.origin}/ghost/repo/resolve/main/x.bin`, settings, dir.path);
    expect(ghost.error).toMatchObject({ code: 'not-found' });

    const bad = await fetchViaSource(resolveUrl('config.json'), { ...settings, hfToken: 'hf_wrong' }, dir.path);
    expect(bad.error).toMatchObject({ code: 'auth-required' });
    expect(bad.error?.message).toMatch(/HF_TOKEN is invalid/);
  });

  it('rejects a hub URL that is not a file URL', async () => {
    const { error } = await fetchViaSource(`${hub.origin}/${REPO}`, settings, dir.path);
    expect(error).toMatchObject({ code: 'invalid-row' });
  });
});
