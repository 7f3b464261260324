import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PartFile } from '../../src/engine/part-file.js';
import { makeBatchEnv, type BatchEnv } from '../helpers/batch-env.js';
import { runCli } from '../helpers/cli.js';

let w: BatchEnv;
beforeEach(async () => {
  w = await makeBatchEnv();
  await w.writeHistory([
    ['checkpoint', '/ck', 'ck.safetensors'],
    ['lora', '/half', 'half.safetensors'],
    ['lora', '/known', 'known.safetensors'],
    ['embedding', '/unknown', 'unknown.pt'],
  ]);
  for (const type of ['checkpoint', 'lora', 'embedding'] as const) await mkdir(w.dirOf(type), { recursive: true });
  // On disk: its own size.
  await writeFile(join(w.dirOf('checkpoint'), 'ck.safetensors'), Buffer.alloc(3 * 1024 * 1024));
  // Half fetched: the size its part's sidecar remembers.
  const half = new PartFile(join(w.dirOf('lora'), 'half.safetensors'));
  await writeFile(half.partPath, Buffer.alloc(1000));
  await half.writeSidecar({ version: 1, url: w.server.url('/half'), total: 5 * 1024 });
  // Gone, but an earlier run remembered what the site published.
  await writeFile(
    join(w.root, '.dlr-hashes.json'),
    JSON.stringify({ version: 1, files: { [w.server.url('/known')]: { size: 2048, source: 'direct', resolvedAt: '2024-10-24T10:00:00Z' } } }),
  );
});
afterEach(() => w.cleanup());

const dlr = (args: string[]) => runCli(args, { cwd: w.root, env: w.env });

describe('dlr history', () => {
  it('prints a header, then each entry with its state and its size where known; --sizes asks the disk', async () => {
    const run = await dlr(['history']);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('#\ttype\tstate\tsize\tpath\turl');
    // Without --sizes a present file's size is what its source published (none here): no stat per file.
    expect(lines.slice(1).map((l) => l.split('\t').slice(0, 4))).toEqual([
      ['1', 'checkpoint', 'present', '-'],
      ['2', 'lora', 'fetch', '5.0 KiB'],
      ['3', 'lora', 'fetch', '2.0 KiB'],
      ['4', 'embedding', 'fetch', '-'],
    ]);
    const sized = await dlr(['history', '--sizes']);
    expect(sized.stdout.trimEnd().split('\n')[1]!.split('\t').slice(0, 4)).toEqual(['1', 'checkpoint', 'present', '3.0 MiB']);
    expect(w.server.requests).toHaveLength(0);
  });

  it('--missing lists only the entries not on disk, numbered as in the plan; --json carries sizes in bytes', async () => {
    const run = await dlr(['history', '--missing']);
    expect(run.code).toBe(0);
    expect(run.stdout.trimEnd().split('\n').map((l) => l.split('\t')[0])).toEqual(['#', '2', '3', '4']);
    const json = JSON.parse((await dlr(['history', '--json', '--missing'])).stdout);
    expect(json.entries.map((e: { filename: string; size: number | null; present: boolean }) => [e.filename, e.size, e.present])).toEqual([
      ['half.safetensors', 5 * 1024, false],
      ['known.safetensors', 2048, false],
      ['unknown.pt', null, false],
    ]);
  });
});
