import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installCivitai } from '../../fixtures/server/civitai.js';
import { makeBytes, sha256, startFaultServer, type FaultServer } from '../../fixtures/server/fault-server.js';
import { installHub, installHubNotFound, type FakeHubFile } from '../../fixtures/server/huggingface.js';
import { FAST, runCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const HF_TOKEN = 'hf_pull_token_5678';
const COMMIT = '1f2e3d4c5b6a79880716253443526170a9b8c7d6';
const GATED_COMMIT = 'aaaabbbbccccddddeeeeffff0000111122223333';
const model = makeBytes(80_000, 91);
const quantized = makeBytes(30_000, 92);
const config = Buffer.from('{"hidden_size": 768}\n');
const tokenizer = Buffer.from('{"version": "1.0"}\n');
const FILES: FakeHubFile[] = [
  { path: 'config.json', body: config, lfs: false },
  { path: 'tokenizer.json', body: tokenizer, lfs: false },
  { path: 'onnx/model.onnx', body: model, lfs: true },
  { path: 'onnx/model_quantized.onnx', body: quantized, lfs: true },
  { path: 'pytorch_model.bin', body: makeBytes(50_000, 93), lfs: true },
];

let hub: FaultServer;
let hfCdn: FaultServer;
let api: FaultServer;
let cdn: FaultServer;
let root: { path: string; cleanup: () => Promise<void> };
let env: Record<string, string>;

beforeEach(async () => {
  [hub, hfCdn, api, cdn] = await Promise.all([startFaultServer(), startFaultServer(), startFaultServer(), startFaultServer()]);
  root = await makeTempDir('dlr-pull-');
  installHub(
    hub,
    hfCdn,
    [
      { repo: 'org/embedder', commit: COMMIT, files: FILES },
      { repo: 'org/gated', commit: GATED_COMMIT, gated: true, files: [{ path: 'model.onnx', body: model, lfs: true }] },
    ],
    HF_TOKEN,
  );
  installCivitai(
    api,
    cdn,
    [
      {
        id: 5,
        name: 'Lora',
        type: 'LORA',
        versions: [
          {
            id: 55,
            name: 'v1',
            files: [
              { name: 'style.safetensors', body: makeBytes(40_000, 94) },
              { name: 'style_config.json', body: Buffer.from('{"a":1}'), type: 'Config', contentType: 'application/json' },
            ],
          },
        ],
      },
    ],
    'civitai-pull-key',
  );
  await writeFile(join(root.path, 'dlr.config.json'), JSON.stringify({ civitai: { base_url: api.origin }, rate_limit_settings: { sleep_between_downloads: 0 } }));
  env = { HOME: join(root.path, 'home'), HF_ENDPOINT: hub.origin };
});

afterEach(async () => {
  await Promise.all([hub.close(), hfCdn.close(), api.close(), cdn.close()]);
  await root.cleanup();
});

const dlr = (args: string[], extraEnv: Record<string, string> = {}) => runCli(['pull', ...args, ...FAST], { cwd: root.path, env: { ...env, ...extraEnv } });
const lockPath = () => join(root.path, 'dlr.lock.json');
const modelDir = () => join(root.path, 'models', 'embedder');

/** Every file under `dir` (relative, sorted), dlr's run lock left out. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name !== '.dlr.lock') out.push(join(entry.parentPath, entry.name).slice(dir.length + 1));
  }
  return out.sort();
}

const allRequests = () => [...hub.requests, ...hfCdn.requests, ...api.requests, ...cdn.requests];

describe('dlr pull (Hub)', () => {
  it('pulls the files --include/--exclude leave, from the resolved commit, and writes a sorted lock', async () => {
    const run = await dlr(['hf:org/embedder', '--dir', 'models/embedder', '--include', '*.json', '--include', 'onnx/', '--exclude', '*quantized*']);
    expect(run.stderr).not.toMatch(/error|fail/i);
    expect(run.code).toBe(0);
    expect(await filesUnder(modelDir())).toEqual(['config.json', 'onnx/model.onnx', 'tokenizer.json']);
    expect(await readFile(join(modelDir(), 'onnx/model.onnx'))).toEqual(model);
    expect(await readFile(join(modelDir(), 'config.json'))).toEqual(config);
    // One listing, then every file from the commit it named, never from `main`.
    const hubPaths = hub.requests.map((r) => r.path);
    expect(hubPaths.filter((p) => p.startsWith('/api/models/'))).toEqual(['/api/models/org/embedder/revision/main']);
    expect(hub.requests[0]!.url).toContain('blobs=true');
    const resolves = hubPaths.filter((p) => p.includes('/resolve/'));
    expect(resolves.sort()).toEqual(['config.json', 'onnx/model.onnx', 'tokenizer.json'].map((p) => `/org/embedder/resolve/${COMMIT}/${p}`));

    const text = await readFile(lockPath(), 'utf8');
    const lock = JSON.parse(text);
    expect(lock.lockfileVersion).toBe(1);
    expect(lock.pulls).toHaveLength(1);
    const entry = lock.pulls[0];
    expect(entry).toMatchObject({ source: 'hf:org/embedder', revision: 'main', commit: COMMIT, dir: 'models/embedder', include: ['*.json', 'onnx/'], exclude: ['*quantized*'] });
    expect(entry.files).toEqual([
      { path: 'config.json', size: config.length, gitBlobId: gitBlob(config) },
      { path: 'onnx/model.onnx', size: model.length, sha256: sha256(model) },
      { path: 'tokenizer.json', size: tokenizer.length, gitBlobId: gitBlob(tokenizer) },
    ]);
    // Pulling again with nothing changed upstream changes no byte of the lock.
    const again = await dlr(['hf:org/embedder', '--dir', 'models/embedder', '--include', '*.json', '--include', 'onnx/', '--exclude', '*quantized*']);
    expect(again.code).toBe(0);
    expect(await readFile(lockPath(), 'utf8')).toBe(text);
    expect(again.stderr).toMatch(/0 fetched, 3 present/);
  });

  it('keeps every pull when several write one lock file at once, and takes the patterns as a set', async () => {
    const runs = await Promise.all(
      ['a', 'b', 'c', 'd'].map((d, i) => dlr(['hf:org/embedder', '--dir', `models/${d}`, '--include', i % 2 ? 'onnx/' : '*.json'])),
    );
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    const lock = JSON.parse(await readFile(lockPath(), 'utf8'));
    expect(lock.pulls.map((p: { dir: string }) => p.dir)).toEqual(['models/a', 'models/b', 'models/c', 'models/d']);
    // Patterns are stored sorted, and --frozen takes them in any order.
    expect((await dlr(['hf:org/embedder', '--dir', 'models/e', '--include', 'onnx/', '--include', '*.json'])).code).toBe(0);
    const frozen = await dlr(['hf:org/embedder', '--dir', 'models/e', '--frozen', '--include', '*.json', '--include', 'onnx/']);
    expect(frozen.code, frozen.stderr).toBe(0);
    expect(JSON.parse(await readFile(lockPath(), 'utf8')).pulls.find((p: { dir: string }) => p.dir === 'models/e').include).toEqual(['*.json', 'onnx/']);
  });

  it('--frozen with every file present and matching sends no request at all', async () => {
    expect((await dlr(['hf:org/embedder', '--dir', 'models/embedder'])).code).toBe(0);
    const lockBefore = await readFile(lockPath(), 'utf8');
    const before = allRequests().length;
    const run = await dlr(['hf:org/embedder', '--dir', 'models/embedder', '--frozen']);
    expect(run.stderr).toMatch(/\(0 fetched, 5 present\); matches the lock/);
    expect(run.code).toBe(0);
    expect(allRequests().length).toBe(before);
    expect(await readFile(lockPath(), 'utf8')).toBe(lockBefore);
  });

  it('--frozen fetches only a deleted file, from the locked commit, even after the branch moved', async () => {
    expect((await dlr(['hf:org/embedder', '--dir', 'models/embedder'])).code).toBe(0);
    const lockBefore = await readFile(lockPath(), 'utf8');
    await rm(join(modelDir(), 'onnx/model.onnx'));
    await rm(join(modelDir(), 'tokenizer.json'));
    // `main` now answers something else: a frozen pull never asks it.
    installHubNotFound(hub, '/api/models/org/embedder/revision/main', 'RevisionNotFound');
    const before = hub.requests.length;
    const run = await dlr(['hf:org/embedder', '--dir', 'models/embedder', '--frozen']);
    expect(run.stderr).toMatch(/2 fetched, 3 present/);
    expect(run.code).toBe(0);
    const asked = hub.requests.slice(before).map((r) => r.path).sort();
    expect(asked).toEqual([`/api/resolve-cache/models/org/embedder/${COMMIT}/tokenizer.json`, `/org/embedder/resolve/${COMMIT}/onnx/model.onnx`, `/org/embedder/resolve/${COMMIT}/tokenizer.json`]);
    expect(await readFile(join(modelDir(), 'onnx/model.onnx'))).toEqual(model);
    expect(await readFile(join(modelDir(), 'tokenizer.json'))).toEqual(tokenizer);
    expect(await readFile(lockPath(), 'utf8')).toBe(lockBefore);
  });

  it('--frozen against upstream bytes that no longer match the lock: exit 1 naming the file, nothing renamed, lock untouched', async () => {
    expect((await dlr(['hf:org/embedder', '--dir', 'models/embedder'])).code).toBe(0);
    const lockBefore = await readFile(lockPath(), 'utf8');
    await rm(join(modelDir(), 'onnx/model.onnx'));
    const wrong = Buffer.from(model);
    wrong[100] = wrong[100]! ^ 0xff;
    // The CDN object behind the locked hash now holds other bytes; so does a small file.
    hfCdn.setFile(`/xet-bridge-us/${sha256(model)}`, { body: wrong });
    await writeFile(join(modelDir(), 'config.json'), '{"tampered": true}\n');
    hub.setFile(`/api/resolve-cache/models/org/embedder/${COMMIT}/config.json`, { body: Buffer.from('{"hidden_size": 769}\n') });

    const run = await dlr(['hf:org/embedder', '--dir', 'models/embedder', '--frozen']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/onnx\/model\.onnx.*SHA-256/);
    expect(run.stderr).toMatch(/config\.json.*git blob id .* does not match the locked/);
    expect(run.stderr).toMatch(/the lock is unchanged/);
    expect(run.stderr).not.toMatch(/at .*\.js:\d+/);
    expect(await readFile(lockPath(), 'utf8')).toBe(lockBefore);
    // Nothing wrong in place: the deleted file is still missing, the tampered one as it was, no staging left.
    const files = await filesUnder(modelDir());
    expect(files).not.toContain('onnx/model.onnx');
    expect(await readFile(join(modelDir(), 'config.json'), 'utf8')).toBe('{"tampered": true}\n');
    expect(files.filter((f) => f.includes('.dlr-pull-'))).toEqual([]);
  });

  it("waits out a 429 on the listing for the time the Hub's RateLimit header gives, then pulls", async () => {
    hub.script('/api/models/org/embedder/revision/main', { kind: 'status', status: 429, headers: { ratelimit: '"api";r=0;t=1', 'ratelimit-policy': '"fixed window";"api";q=500;w=300' } });
    const run = await dlr(['hf:org/embedder', '--dir', 'models/embedder', '--include', 'config.json']);
    expect(run.code).toBe(0);
    const listings = hub.requestsTo('/api/models/org/embedder/revision/main');
    expect(listings).toHaveLength(2);
    // The wait came from `t=1`, not from --retry-delays (0.01 s here).
    expect(listings[1]!.at - listings[0]!.at).toBeGreaterThanOrEqual(900);
    expect(await filesUnder(modelDir())).toEqual(['config.json']);
  });

  it('a revision that does not exist: exit 1, one line, no lock', async () => {
    installHubNotFound(hub, '/api/models/org/embedder/revision/v9', 'RevisionNotFound');
    const run = await dlr(['hf:org/embedder@v9', '--dir', 'models/embedder']);
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split('\n')).toEqual(["dlr: Hugging Face: revision 'v9' not found in org/embedder"]);
    await expect(readFile(lockPath())).rejects.toThrow();
  });

  it('a gated repository without a token: exit 1 saying to set HF_TOKEN or hf auth login, no file asked for', async () => {
    const run = await dlr(['hf:org/gated', '--dir', 'models/gated']);
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/gated.*HF_TOKEN.*hf auth login/);
    expect(hub.requests.filter((r) => r.path.includes('/resolve/'))).toEqual([]);
  });

  it('reads the token `hf auth login` saved ($HF_HOME/token), and HF_TOKEN wins over it', async () => {
    const hfHome = join(root.path, 'hf-home');
    await mkdir(hfHome, { recursive: true });
    await writeFile(join(hfHome, 'token'), `${HF_TOKEN}\n`);
    const run = await dlr(['hf:org/gated', '--dir', 'models/gated'], { HF_HOME: hfHome });
    expect(run.stderr).toBe(run.stderr.replaceAll(HF_TOKEN, ''));
    expect(run.code).toBe(0);
    expect(await readFile(join(root.path, 'models/gated/model.onnx'))).toEqual(model);
    expect(hub.requests.every((r) => r.headers.authorization === `Bearer ${HF_TOKEN}`)).toBe(true);
    // The token never leaves the hub for its CDN.
    expect(hfCdn.requests.some((r) => r.headers.authorization !== undefined)).toBe(false);
    const wrong = await dlr(['hf:org/gated', '--dir', 'models/gated2'], { HF_HOME: hfHome, HF_TOKEN: 'hf_wrong' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/HF_TOKEN is invalid/);
  });

  it('takes a Hub URL with /tree/REVISION on HF_ENDPOINT', async () => {
    const run = await dlr([`${hub.origin}/org/embedder/tree/main`, '--dir', 'models/embedder', '--include', 'config.json']);
    expect(run.code).toBe(0);
    expect(await filesUnder(modelDir())).toEqual(['config.json']);
    expect(JSON.parse(await readFile(lockPath(), 'utf8')).pulls[0].commit).toBe(COMMIT);
  });

  it.each([
    ['../x', 'outside.bin'],
    ['/etc/passwd-dlr', 'absolute'],
    ['onnx/../../x', 'dotdot inside'],
    [`${'a'.repeat(2000)}.bin`, 'huge'],
  ])('refuses a listing with a hostile path %#: exit 1, nothing written', async (path) => {
    installHub(hub, hfCdn, [{ repo: 'evil/repo', commit: COMMIT, files: [{ path: 'ok.json', body: config, lfs: false }, { path, body: model, lfs: true }] }], HF_TOKEN);
    const run = await dlr(['hf:evil/repo', '--dir', 'models/evil']);
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/refusing .*(a '\.\.' component|an absolute path|over 1024 characters)/);
    expect(run.stderr.length).toBeLessThan(400);
    expect(hub.requests.filter((r) => r.path.includes('/resolve/'))).toEqual([]);
    expect(await readdir(root.path)).toEqual(expect.not.arrayContaining(['x', 'models', 'dlr.lock.json']));
  });
});

describe('dlr pull (Civitai)', () => {
  it("pulls a model version's files, locks their SHA-256 and exact sizes, and --frozen re-fetches one by its file id", async () => {
    const run = await dlr(['civitai:55', '--dir', 'loras/style']);
    expect(run.stderr).not.toMatch(/error|fail/i);
    expect(run.code).toBe(0);
    const dir = join(root.path, 'loras/style');
    expect(await filesUnder(dir)).toEqual(['style.safetensors', 'style_config.json']);
    const lock = JSON.parse(await readFile(lockPath(), 'utf8'));
    expect(lock.pulls[0]).toMatchObject({ source: 'civitai:55', dir: 'loras/style' });
    expect(lock.pulls[0].commit).toBeUndefined();
    expect(lock.pulls[0].files).toEqual([
      { path: 'style.safetensors', size: 40_000, sha256: sha256(makeBytes(40_000, 94)), id: 5500 },
      { path: 'style_config.json', size: 7, sha256: sha256(Buffer.from('{"a":1}')), id: 5501 },
    ]);

    await rm(join(dir, 'style_config.json'));
    const before = api.requests.length;
    const frozen = await dlr(['civitai:55', '--dir', 'loras/style', '--frozen']);
    expect(frozen.code).toBe(0);
    expect(api.requests.slice(before).map((r) => r.url)).toEqual(['/api/download/models/55?fileId=5501']);
    expect(await readFile(join(dir, 'style_config.json'), 'utf8')).toBe('{"a":1}');
  });
});

function gitBlob(body: Buffer): string {
  return createHash('sha1').update(`blob ${body.length}\0`).update(body).digest('hex');
}
