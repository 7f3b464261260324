import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installCivitai } from '../../fixtures/server/civitai.js';
import { makeBytes, sha256, startFaultServer, type FaultServer } from '../../fixtures/server/fault-server.js';
import { runCli } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/temp-dir.js';

// Model 5 follows its model (a page URL without a version): v1 was saved last month, v2 is today's newest.
const v1 = makeBytes(30_000, 501);
const v2 = makeBytes(32_000, 502);
const ck = makeBytes(50_000, 601);
// Model 7 publishes a hash its CDN object does not have: no download of it can ever be verified.
const unverifiable = makeBytes(20_000, 701);

let api: FaultServer;
let cdn: FaultServer;
let root: { path: string; cleanup: () => Promise<void> };
const at = (...parts: string[]) => join(root.path, ...parts);

beforeEach(async () => {
  [api, cdn] = await Promise.all([startFaultServer(), startFaultServer()]);
  root = await makeTempDir('dlr-repair-');
  installCivitai(
    api,
    cdn,
    [
      { id: 5, name: 'Evolving', type: 'LORA', versions: [
        { id: 52, name: 'v2', files: [{ name: 'evolving.safetensors', body: v2 }] },
        { id: 51, name: 'v1', files: [{ name: 'evolving.safetensors', body: v1 }] },
      ] },
      { id: 6, name: 'Ckpt', type: 'Checkpoint', versions: [{ id: 61, name: 'v1', files: [{ name: 'ck.safetensors', body: ck }] }] },
      { id: 7, name: 'Bad', type: 'LORA', versions: [{ id: 71, name: 'v1', files: [{ name: 'bad.safetensors', body: unverifiable, publishedSha256: sha256(Buffer.from('never served')) }] }] },
    ],
    'key-unused',
  );
  await writeFile(
    at('dlr.config.json'),
    JSON.stringify({
      civitai: { base_url: api.origin },
      download_paths: { checkpoint: 'ckpt', lora: 'lora', default: 'other' },
      rate_limit_settings: { sleep_between_downloads: 0, retry_delays: [0.01, 0.01] },
    }),
  );
  await mkdir(at('lora'), { recursive: true });
  await mkdir(at('ckpt'), { recursive: true });
  await writeFile(at('lora', 'evolving.safetensors'), v1);
  await writeFile(at('lora', 'stranger.safetensors'), makeBytes(30_000, 999));
  const corruptCk = Buffer.from(ck);
  corruptCk.writeUInt8(corruptCk.readUInt8(1234) ^ 0xff, 1234);
  await writeFile(at('ckpt', 'ck.safetensors'), corruptCk);
});

afterEach(async () => {
  await Promise.all([api.close(), cdn.close()]);
  await root.cleanup();
});

const dlr = (args: string[]) => runCli(args, { cwd: root.path, env: { HOME: at('home') } });

async function writeHistory(...rows: string[]): Promise<void> {
  await writeFile(at('download_history.csv'), ['timestamp,model_type,url,filename', ...rows.map((r) => `t,${r}`)].join('\n') + '\n');
}

const byHashRequests = () => api.requests.filter((r) => r.path.startsWith('/api/v1/model-versions/by-hash/'));

describe('dlr verify on a Civitai model page (no version named)', () => {
  it("asks Civitai's by-hash API: an older version of the model is ok, a file no version has is corrupt", async () => {
    await writeHistory(
      'lora,https://civitai.com/models/5,evolving.safetensors',
      'lora,https://civitai.com/models/5?type=Model,stranger.safetensors',
    );
    const run = await dlr(['verify']);
    expect(run.stdout).toMatch(new RegExp(`^ok\\t.*evolving\\.safetensors\\t.*version 51`, 'm'));
    expect(run.stdout).toMatch(/^corrupt\t.*stranger\.safetensors\t.*no published version/m);
    expect(run.code).toBe(1);
    expect(byHashRequests().map((r) => r.path)).toContain(`/api/v1/model-versions/by-hash/${sha256(v1).toUpperCase()}`);
  });

  it("does not take another model's file for a version of this one", async () => {
    await writeFile(at('lora', 'evolving.safetensors'), ck);
    await writeHistory('lora,https://civitai.com/models/5,evolving.safetensors');
    const run = await dlr(['verify']);
    expect(run.stdout).toMatch(/^corrupt\t.*evolving\.safetensors/m);
    expect(run.code).toBe(1);
  });
});

describe('repair', () => {
  it('dlr verify --repair fetches the missing and the corrupt again and leaves good files alone', async () => {
    await writeHistory(
      'lora,https://civitai.com/models/5,evolving.safetensors',
      'lora,https://civitai.com/models/5?type=Model,stranger.safetensors',
      'checkpoint,https://civitai.com/api/download/models/61,ck.safetensors',
      'lora,https://civitai.com/api/download/models/51,gone.safetensors',
    );
    const run = await dlr(['verify', '--repair']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^corrupt\t.*ck\.safetensors/m);
    expect(run.stdout).toMatch(/^missing\t.*gone\.safetensors/m);
    expect(run.stderr).toMatch(/verify: ok 1, corrupt 2, missing 1, unverifiable 0; 3 to repair/);
    expect(sha256(await readFile(at('ckpt', 'ck.safetensors')))).toBe(sha256(ck));
    expect(sha256(await readFile(at('lora', 'gone.safetensors')))).toBe(sha256(v1));
    // A model page follows the model: the repaired file is today's newest version.
    expect(sha256(await readFile(at('lora', 'stranger.safetensors')))).toBe(sha256(v2));
    // The good older version was not fetched again, nor replaced by the newest.
    expect(sha256(await readFile(at('lora', 'evolving.safetensors')))).toBe(sha256(v1));
    // The newest version was fetched once, for the stranger; the good file not at all.
    expect(cdn.requests.filter((r) => r.path.startsWith('/model/52/')).map((r) => r.path)).toEqual([`/model/52/evolving.safetensors`]);

    const again = await dlr(['verify']);
    expect(again.code, again.stdout).toBe(0);
  });

  it('keeps a corrupt file when its replacement fails verification (exit 1)', async () => {
    await writeFile(at('lora', 'bad.safetensors'), 'old bytes');
    await writeHistory('lora,https://civitai.com/api/download/models/71,bad.safetensors');
    const run = await dlr(['redownload', 'all', '--repair']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/corrupt: .*bad\.safetensors.*fetching it again/);
    expect(run.stderr).toMatch(/hash/i);
    expect(await readFile(at('lora', 'bad.safetensors'), 'utf8')).toBe('old bytes');
  });

  it('dlr redownload all --repair replaces a corrupt file that plain redownload skips', async () => {
    await writeHistory('checkpoint,https://civitai.com/api/download/models/61,ck.safetensors');
    const plain = await dlr(['redownload', 'all']);
    expect(plain.code).toBe(0);
    expect(sha256(await readFile(at('ckpt', 'ck.safetensors')))).not.toBe(sha256(ck));
    const run = await dlr(['redownload', 'all', '--repair']);
    expect(run.code, run.stderr).toBe(0);
    expect(sha256(await readFile(at('ckpt', 'ck.safetensors')))).toBe(sha256(ck));
  });
});
