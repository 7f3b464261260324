import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freeSpaceWarning, knownRemainingBytes } from '../../src/batch/disk-space.js';
import type { PlanEntry } from '../../src/history/plan.js';
import { makeTempDir } from '../helpers/temp-dir.js';

let dir: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await dir.cleanup();
});

const entry = (name: string): PlanEntry => ({
  line: 2,
  timestamp: 't',
  modelType: 'lora',
  type: 'lora',
  url: `https://h/${name}`,
  filename: name,
  dir: dir.path,
  path: join(dir.path, name),
});

async function plantPart(name: string, have: number, total: number) {
  await writeFile(join(dir.path, `${name}.part`), Buffer.alloc(have));
  await writeFile(join(dir.path, `${name}.part.json`), JSON.stringify({ version: 1, url: `https://h/${name}`, total }));
}

describe('free space', () => {
  it('counts what earlier runs learned: the rest of each part, and with --force the file being replaced', async () => {
    await plantPart('a.bin', 100, 1000);
    await writeFile(join(dir.path, 'b.bin'), Buffer.alloc(500));
    const unknown = entry('c.bin');
    expect(await knownRemainingBytes([entry('a.bin'), entry('b.bin'), unknown], false)).toEqual({ bytes: 900, unknown: 1 });
    expect(await knownRemainingBytes([entry('a.bin'), entry('b.bin')], true)).toEqual({ bytes: 1400, unknown: 0 });
  });

  it('warns, naming the folder and the shortfall, when the known sizes do not fit', async () => {
    await mkdir(dir.path, { recursive: true });
    await plantPart('huge.safetensors', 0, 2 ** 52);
    const warning = await freeSpaceWarning([entry('huge.safetensors')], false);
    expect(warning).toMatch(new RegExp(`${dir.path} needs 4096\\.0 TiB, has .* free \\(short by`));
  });

  it('stays quiet when the sizes fit', async () => {
    await plantPart('small.bin', 0, 1024);
    expect(await freeSpaceWarning([entry('small.bin')], false)).toBeUndefined();
  });
});
