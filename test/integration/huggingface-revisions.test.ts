import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeBytes, sha256 } from '../../fixtures/server/fault-server.js';
import { installHub } from '../../fixtures/server/huggingface.js';
import type { SourceSettings } from '../../src/sources/types.js';
import { fetchViaSource, fileSha } from '../helpers/engine.js';
import { useSiteWithCdn } from '../helpers/site-context.js';

const REPO = 'org/embedder';
const MAIN = '1111111111111111111111111111111111111111';
const PR = '2222222222222222222222222222222222222222';
const PARQUET = '3333333333333333333333333333333333333333';
const onMain = makeBytes(40_000, 101);
const onPr = makeBytes(41_000, 102);
const parquet = makeBytes(20_000, 103);

const t = useSiteWithCdn((site, cdn) =>
  installHub(
    site,
    cdn,
    [
      { repo: REPO, commit: MAIN, files: [{ path: 'onnx/model.onnx', body: onMain, lfs: true }] },
      { repo: REPO, commit: PR, revisions: ['refs/pr/1'], files: [{ path: 'onnx/model.onnx', body: onPr, lfs: true }] },
      { repo: 'datasets/org/data', commit: PARQUET, revisions: ['refs/convert/parquet'], files: [{ path: 'default/train/0000.parquet', body: parquet, lfs: true }] },
    ],
    'hf_unused',
  ),
);
const settings = (): SourceSettings => ({ civitaiBaseUrl: 'http://127.0.0.1:9', civitaiApiKey: undefined, hfEndpoint: t.site.origin, hfToken: undefined });

describe('Hugging Face revisions with a slash', () => {
  it.each([
    ['written out', 'refs/pr/1'],
    ['encoded as one segment', 'refs%2Fpr%2F1'],
  ])('downloads a pull request revision %s, pinned to its commit', async (_label, revision) => {
    const { result, resolved } = await fetchViaSource(`${t.site.origin}/${REPO}/resolve/${revision}/onnx/model.onnx`, settings(), t.dir);
    expect(result).toMatchObject({ status: 'done', verified: true });
    expect(await fileSha(join(t.dir, 'model.onnx'))).toBe(sha256(onPr));
    expect(resolved?.version).toBe(PR);
    expect(resolved?.url.pathname).toBe(`/${REPO}/resolve/${PR}/onnx/model.onnx`);
    // The probe names the revision as one encoded path segment, as huggingface_hub does.
    expect(t.site.requests[0]).toMatchObject({ method: 'HEAD', path: `/${REPO}/resolve/refs%2Fpr%2F1/onnx/model.onnx` });
  });

  it('downloads from a refs/convert revision of a dataset', async () => {
    const { result } = await fetchViaSource(`${t.site.origin}/datasets/org/data/resolve/refs/convert/parquet/default/train/0000.parquet`, settings(), t.dir);
    expect(result).toMatchObject({ status: 'done', verified: true });
    expect(await fileSha(join(t.dir, '0000.parquet'))).toBe(sha256(parquet));
  });

  it('still reads a branch as the branch', async () => {
    const { result } = await fetchViaSource(`${t.site.origin}/${REPO}/resolve/main/onnx/model.onnx`, settings(), t.dir);
    expect(result).toMatchObject({ status: 'done', verified: true });
    expect(await fileSha(join(t.dir, 'model.onnx'))).toBe(sha256(onMain));
  });

  it('fails a malformed percent-escape in the path or revision as invalid-row, not as an internal error', async () => {
    for (const path of [`/${REPO}/resolve/main/onnx/bad%E0%A4.onnx`, `/${REPO}/resolve/ma%zzin/onnx/model.onnx`]) {
      const { error } = await fetchViaSource(`${t.site.origin}${path}`, settings(), t.dir);
      expect(error).toMatchObject({ code: 'invalid-row' });
    }
    expect(t.site.requests).toEqual([]);
  });
});
