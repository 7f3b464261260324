import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeBytes, sha256, startFaultServer, type FaultServer } from '../../fixtures/server/fault-server.js';
import { installHub, installHubNotFound } from '../../fixtures/server/huggingface.js';
import { createHttpClient } from '../../src/http/client.js';
import { RetryBudget } from '../../src/policy/with-retries.js';
import { resolveSource } from '../../src/sources/resolve-source.js';
import type { SourceSettings } from '../../src/sources/types.js';
import { USER_AGENT } from '../../src/version.js';
import { fetchViaSource, fileSha } from '../helpers/engine.js';
import { fastPolicy } from '../helpers/policy.js';
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

describe('Hugging Face: what the hub and its CDN send, read as WIRE.md says', () => {
  it('waits the configured delay, not the window reset, on a 503 that still has requests left in its RateLimit window', async () => {
    hub.script(`/${REPO}/resolve/main/tokenizer.json`, { kind: 'status', status: 503, headers: { ratelimit: '"resolvers";r=2999;t=172' } });
    // A limit below 172 s: reading `t=172` as the wait would fail the file at once.
    const policy = fastPolicy({ maxRetryAfterMs: 1_000 });
    const client = createHttpClient({ policy });
    const delays: number[] = [];
    try {
      const resolved = await resolveSource(resolveUrl('tokenizer.json'), { settings, client, retryBudget: new RetryBudget(client.policy, (r) => delays.push(r.delayMs)) });
      expect(resolved.expect?.sha256).toBe(sha256(tokenizer));
    } finally {
      await client.close();
    }
    expect(delays).toEqual([5]);
  });

  it('reads a 401 saying the credentials are invalid as a bad HF_TOKEN, even with an X-Error-Code', async () => {
    hub.script(`/${REPO}/resolve/main/config.json`, {
      kind: 'status',
      status: 401,
      headers: { 'x-error-code': 'RepoNotFound', 'x-error-message': 'Invalid credentials in Authorization header' },
    });
    const { error } = await fetchViaSource(resolveUrl('config.json'), settings, dir.path);
    expect(error).toMatchObject({ code: 'auth-required' });
    expect(error?.message).toMatch(/HF_TOKEN is invalid/);
  });

  it('does not take a gzipped Content-Length on the probe for the file size', async () => {
    const text = Buffer.from('hello world\n'.repeat(2_000));
    // Files in namespace-less repos are served directly (200), not redirected (WIRE.md 2.2).
    for (const revision of ['main', COMMIT]) {
      hub.setFile(`/gpt2/resolve/${revision}/vocab.txt`, { body: text, headers: { 'x-repo-commit': COMMIT } });
      hub.script(`/gpt2/resolve/${revision}/vocab.txt`, { kind: 'gzip' });
    }
    const { result, resolved } = await fetchViaSource(`${hub.origin}/gpt2/resolve/main/vocab.txt`, settings, dir.path);
    expect(hub.requests[0]).toMatchObject({ method: 'HEAD', fault: 'gzip' });
    expect(resolved?.expect?.size).toBeUndefined();
    expect(result).toMatchObject({ status: 'done' });
    expect(await fileSha(join(dir.path, 'vocab.txt'))).toBe(sha256(text));
  });

  it('asks the hub for a fresh link when the CDN refuses the signed one (expired)', async () => {
    cdn.script(`/xet-bridge-us/${sha256(onnx)}`, {
      kind: 'status',
      status: 403,
      body: '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>',
      headers: { 'content-type': 'application/xml' },
    });
    const { result, events } = await fetchViaSource(resolveUrl('onnx/model.onnx'), settings, dir.path);
    expect(events.find((e) => e.type === 'retry')).toMatchObject({ code: 'forbidden' });
    expect(result).toMatchObject({ status: 'done', verified: true });
    expect(hub.requestsTo(`/${REPO}/resolve/${COMMIT}/onnx/model.onnx`).filter((r) => r.method === 'GET')).toHaveLength(2);
  });

  it('still fails a 403 from the hub itself at once', async () => {
    hub.script(`/${REPO}/resolve/${COMMIT}/onnx/model.onnx`, { kind: 'status', status: 403 });
    const { result } = await fetchViaSource(resolveUrl('onnx/model.onnx'), settings, dir.path);
    expect(result).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'forbidden' } });
  });

  it('names itself with the same User-Agent on the probe as on the download', async () => {
    await fetchViaSource(resolveUrl('onnx/model.onnx'), settings, dir.path);
    expect(hub.requests.length).toBeGreaterThan(1);
    for (const r of hub.requests) expect(r.headers['user-agent']).toBe(USER_AGENT);
  });
});

describe('one retry budget per file', () => {
  it('counts the probe\'s retries against the same retry_delays as the download\'s', async () => {
    const throttled = { kind: 'status', status: 429 } as const;
    hub.script(`/${REPO}/resolve/main/tokenizer.json`, throttled, throttled);
    hub.script(`/${REPO}/resolve/${COMMIT}/tokenizer.json`, throttled, throttled);
    const { result, events } = await fetchViaSource(resolveUrl('tokenizer.json'), settings, dir.path, { policy: { retryDelaysMs: [1, 1, 1] } });
    expect(result).toMatchObject({ status: 'failed', retries: 3, error: { code: 'rate-limited' } });
    expect(result.status === 'failed' && result.error.message).toMatch(/gave up after 3 retries/);
    // Two retries in the probe, then one for the GET: the list of three delays, once, each reported by the one budget.
    expect(events.filter((e) => e.type === 'retry').map((e) => e.type === 'retry' && e.retry)).toEqual([1, 2, 3]);
    expect(hub.requests.filter((r) => r.path.includes('tokenizer.json'))).toHaveLength(5);
  });

  it('leaves the download the rest of the budget when the probe needed retries', async () => {
    hub.script(`/${REPO}/resolve/main/tokenizer.json`, { kind: 'status', status: 503 });
    const { result } = await fetchViaSource(resolveUrl('tokenizer.json'), settings, dir.path, { policy: { retryDelaysMs: [1, 1, 1] } });
    expect(result).toMatchObject({ status: 'done', retries: 1, verified: true });
  });
});

describe('Hugging Face with the CDN on the hub\'s own origin (a mirror or a stand-in)', () => {
  it('still reads the LFS metadata off the hub\'s redirect, and verifies and pins the file', async () => {
    const single = await startFaultServer();
    const target = await makeTempDir();
    try {
      const body = makeBytes(120_000, 73);
      installHub(single, single, [{ repo: 'org/one', commit: COMMIT, files: [{ path: 'w.safetensors', body, lfs: true }] }], TOKEN);
      const { result, resolved } = await fetchViaSource(`${single.origin}/org/one/resolve/main/w.safetensors`, { ...settings, hfEndpoint: single.origin }, target.path);
      expect(result).toMatchObject({ status: 'done', verified: true });
      expect(resolved?.version).toBe(COMMIT);
      expect(resolved?.expect).toEqual({ sha256: sha256(body), size: body.length });
      expect(await fileSha(join(target.path, 'w.safetensors'))).toBe(sha256(body));
    } finally {
      await single.close();
      await target.cleanup();
    }
  });
});

