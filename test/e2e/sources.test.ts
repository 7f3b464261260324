import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installCivitai } from '../../fixtures/server/civitai.js';
import { makeBytes, sha256, startFaultServer, type FaultServer } from '../../fixtures/server/fault-server.js';
import { installHub } from '../../fixtures/server/huggingface.js';
import { runCli } from '../helpers/cli.js';
import { fileSha } from '../helpers/engine.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const KEY = 'civitai-e2e-key-77aa88bb';
const HF_TOKEN = 'hf_e2e_token_1234';
const COMMIT = 'ab73240a1b2c3d4e5f60718293a4b5c6d7e8f901';
const ckpt = makeBytes(150_000, 81);
const lora = makeBytes(40_000, 82);
const onnx = makeBytes(60_000, 83);

let api: FaultServer;
let cdn: FaultServer;
let hub: FaultServer;
let hfCdn: FaultServer;
let root: { path: string; cleanup: () => Promise<void> };
let env: Record<string, string>;

beforeEach(async () => {
  [api, cdn, hub, hfCdn] = await Promise.all([startFaultServer(), startFaultServer(), startFaultServer(), startFaultServer()]);
  root = await makeTempDir('dlr-sources-');
  installCivitai(
    api,
    cdn,
    [
      { id: 1, name: 'Ckpt', type: 'Checkpoint', versions: [{ id: 11, name: 'v1', files: [{ name: 'Ckpt_v1.safetensors', body: ckpt }] }] },
      { id: 2, name: 'Lora', type: 'LORA', versions: [{ id: 21, name: 'v1', requireAuth: true, files: [{ name: 'lora.safetensors', body: lora }] }] },
      { id: 3, name: 'Flaky', type: 'LORA', versions: [{ id: 31, name: 'v1', files: [{ name: 'flaky.safetensors', body: lora }] }] },
    ],
    KEY,
  );
  // This CDN object always breaks off mid-body: the file fails and leaves its part and sidecar behind.
  cdn.script('/model/31/flaky.safetensors', ...Array.from({ length: 5 }, () => ({ kind: 'reset-after', bytes: 10_000 }) as const));
  installHub(hub, hfCdn, [{ repo: 'org/embedder', commit: COMMIT, files: [{ path: 'onnx/model.onnx', body: onnx, lfs: true }] }], HF_TOKEN);
  await writeFile(
    join(root.path, 'dlr.config.json'),
    JSON.stringify({
      api_key: KEY,
      civitai: { base_url: api.origin },
      download_paths: { checkpoint: 'ckpt', lora: 'lora', default: 'other' },
      rate_limit_settings: { sleep_between_downloads: 0, retry_delays: [0.01, 0.01] },
    }),
  );
  await writeFile(
    join(root.path, 'download_history.csv'),
    [
      'timestamp,model_type,url,filename',
      `t,lora,https://civitai.com/models/2?token=${KEY},lora.safetensors`,
      `t,checkpoint,https://civitai.com/api/download/models/11,`,
      `t,other,${hub.origin}/org/embedder/resolve/main/onnx/model.onnx,model.onnx`,
      `t,lora,https://civitai.com/models/999,gone.safetensors`,
      `t,lora,https://civitai.com/api/download/models/31?token=${KEY},flaky.safetensors`,
    ].join('\n') + '\n',
  );
  env = { HOME: join(root.path, 'home'), HF_ENDPOINT: hub.origin, HF_TOKEN };
});

afterEach(async () => {
  await Promise.all([api.close(), cdn.close(), hub.close(), hfCdn.close()]);
  await root.cleanup();
});

const dlr = (args: string[]) => runCli(args, { cwd: root.path, env });

async function everythingWritten(dir: string): Promise<string> {
  let text = '';
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    if (path.endsWith('dlr.config.json') || path.endsWith('download_history.csv')) continue;
    text += await readFile(path, 'latin1');
  }
  return text;
}

describe('Civitai and Hugging Face through the CLI', () => {
  it('downloads and verifies every file, keeps every secret to its origin, then verifies offline', async () => {
    const run = await dlr(['redownload', 'all', '--summary-json', 'summary.json']);
    expect(run.code).toBe(1);
    expect(await fileSha(join(root.path, 'ckpt', 'Ckpt_v1.safetensors'))).toBe(sha256(ckpt));
    expect(await fileSha(join(root.path, 'lora', 'lora.safetensors'))).toBe(sha256(lora));
    expect(await fileSha(join(root.path, 'other', 'model.onnx'))).toBe(sha256(onnx));
    const summary = JSON.parse(await readFile(join(root.path, 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ success: 3, verified: 3, failed: 2, failuresByCode: { 'not-found': 1, network: 1 } });
    // The sweep below covers a sidecar too.
    expect(await readFile(join(root.path, 'lora', 'flaky.safetensors.part.json'), 'utf8')).toMatch(/"version":1/);

    // No credential anywhere it does not belong: CDN logs, output, and every file dlr wrote.
    const cdnLogs = JSON.stringify([cdn.requests, hfCdn.requests]);
    const produced = run.stdout + run.stderr + (await everythingWritten(root.path));
    for (const secret of [KEY, HF_TOKEN]) {
      expect(cdnLogs).not.toContain(secret);
      expect(produced).not.toContain(secret);
    }
    expect(JSON.stringify(api.requests.map((r) => r.url))).not.toContain(KEY);

    const verify = await dlr(['verify', '--offline']);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toMatch(/^ok\t.*Ckpt_v1\.safetensors/m);
    expect(verify.stdout).toMatch(/^ok\t.*model\.onnx/m);
    expect(verify.stdout).toMatch(/^missing\t.*gone\.safetensors/m);

    await writeFile(join(root.path, 'lora', 'lora.safetensors'), 'bit rot');
    await rm(join(root.path, 'ckpt', 'Ckpt_v1.safetensors'));
    const after = await dlr(['verify', '--offline', '--json']);
    expect(after.code).toBe(1);
    const report = JSON.parse(after.stdout);
    expect(report.counts).toEqual({ ok: 1, corrupt: 1, missing: 3, unverifiable: 0 });
  });

  it('dlr download files a Civitai URL under its type without --type, and keeps a ?token= out of the history row', async () => {
    const before = await readFile(join(root.path, 'download_history.csv'), 'utf8');
    const run = await dlr(['download', `https://civitai.com/api/download/models/11?token=${KEY}`]);
    expect(run.code).toBe(0);
    expect(await fileSha(join(root.path, 'ckpt', 'Ckpt_v1.safetensors'))).toBe(sha256(ckpt));
    const after = await readFile(join(root.path, 'download_history.csv'), 'utf8');
    expect(after.startsWith(before)).toBe(true);
    const added = after.slice(before.length);
    expect(added).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,checkpoint,https:\/\/civitai\.com\/api\/download\/models\/11,Ckpt_v1\.safetensors\n$/);
    expect(added + run.stdout + run.stderr).not.toContain(KEY);
  });

  it('dlr download of a URL whose site names no type is a plain fetch that leaves the history alone', async () => {
    const before = await readFile(join(root.path, 'download_history.csv'), 'utf8');
    const run = await dlr(['download', `${hub.origin}/org/embedder/resolve/main/onnx/model.onnx`]);
    expect(run.code).toBe(0);
    expect(await fileSha(join(root.path, 'model.onnx'))).toBe(sha256(onnx));
    expect(await readFile(join(root.path, 'download_history.csv'), 'utf8')).toBe(before);
  });

  it('dlr download of a Civitai URL into --dir or -o keeps it out of the history, whose rows point into type folders', async () => {
    const before = await readFile(join(root.path, 'download_history.csv'), 'utf8');
    const intoDir = await dlr(['download', 'https://civitai.com/api/download/models/11', '--dir', join(root.path, 'elsewhere')]);
    expect(intoDir.code).toBe(0);
    expect(await fileSha(join(root.path, 'elsewhere', 'Ckpt_v1.safetensors'))).toBe(sha256(ckpt));
    const toFile = await dlr(['download', 'https://civitai.com/api/download/models/11', '-o', join(root.path, 'exact.safetensors')]);
    expect(toFile.code).toBe(0);
    expect(await fileSha(join(root.path, 'exact.safetensors'))).toBe(sha256(ckpt));
    expect(await readFile(join(root.path, 'download_history.csv'), 'utf8')).toBe(before);
    expect(intoDir.stderr + toFile.stderr).not.toMatch(/added to the history/);
  });
});

describe('a history row with no model_type', () => {
  it("takes its Civitai model's type and that type's folder; a type written in the row wins", async () => {
    await writeFile(
      join(root.path, 'download_history.csv'),
      [
        'timestamp,model_type,url,filename',
        't,,https://civitai.com/models/2,',
        't,,https://civitai.com/api/download/models/11,mine.safetensors',
        't,checkpoint,https://civitai.com/models/2?modelVersionId=21,as-ckpt.safetensors',
      ].join('\n') + '\n',
    );
    const run = await dlr(['redownload', 'all', '--summary-json', 's.json']);
    expect(run.code, run.stderr).toBe(0);
    expect(await fileSha(join(root.path, 'lora', 'lora.safetensors'))).toBe(sha256(lora));
    expect(await fileSha(join(root.path, 'ckpt', 'mine.safetensors'))).toBe(sha256(ckpt));
    expect(await fileSha(join(root.path, 'ckpt', 'as-ckpt.safetensors'))).toBe(sha256(lora));
    await expect(readdir(join(root.path, 'other'))).resolves.not.toContain('mine.safetensors');
    const summary = JSON.parse(await readFile(join(root.path, 's.json'), 'utf8'));
    expect(summary.byType).toMatchObject({ lora: { success: 1 }, checkpoint: { success: 2 } });

    // The next night finds them where they went.
    const again = await dlr(['redownload', 'all']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/skipped {3}3/);
  });
});
