import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireRunLock } from '../../src/batch/run-lock.js';
import { removeOrphans, tempPathBeside } from '../../src/util/fs.js';
import { makeTempDir } from '../helpers/temp-dir.js';

let dir: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await dir.cleanup();
});

const DEAD = 4_000_001;
const LIVE = 4_000_002;
const isAlive = (pid: number) => pid === LIVE;

async function plant(): Promise<void> {
  for (const name of [
    `.dlr-${DEAD}-0a1b2c3d.tmp`,
    `.dlr.lock.stale-${DEAD}-99aabbcc`,
    `.dlr-${LIVE}-0a1b2c3d.tmp`,
    `.dlr.lock.stale-${LIVE}-99aabbcc`,
    'model.safetensors',
    '.dlr-notes.tmp',
  ]) {
    await writeFile(join(dir.path, name), 'x');
  }
}

describe('orphans of killed runs', () => {
  it('names temps after our pid, beside their file', () => {
    expect(tempPathBeside(join(dir.path, 'a.part.json'))).toMatch(new RegExp(`^${dir.path}/\\.dlr-${process.pid}-[0-9a-f]{8}\\.tmp$`));
  });

  it("removes temps and set-aside locks whose maker is dead, and nothing else", async () => {
    await plant();
    await removeOrphans(dir.path, isAlive);
    expect((await readdir(dir.path)).sort()).toEqual(
      [`.dlr-${LIVE}-0a1b2c3d.tmp`, `.dlr.lock.stale-${LIVE}-99aabbcc`, '.dlr-notes.tmp', 'model.safetensors'].sort(),
    );
  });

  it('are swept when a run takes the folder lock', async () => {
    await plant();
    const lock = await acquireRunLock([dir.path], { isAlive });
    expect(await readdir(dir.path)).not.toContain(`.dlr-${DEAD}-0a1b2c3d.tmp`);
    expect(await readdir(dir.path)).not.toContain(`.dlr.lock.stale-${DEAD}-99aabbcc`);
    expect(await readdir(dir.path)).toContain(`.dlr-${LIVE}-0a1b2c3d.tmp`);
    await lock.release();
  });
});
