import { spawnSync } from 'node:child_process';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeBytes, sha256 } from '../../fixtures/server/fault-server.js';
import { makeBatchEnv, type BatchEnv } from '../helpers/batch-env.js';
import { BIN, runCli } from '../helpers/cli.js';

/**
 * A full disk and a read-only destination, for real: dlr runs inside a
 * private mount namespace (`unshare -rm`) where one type folder is a 1 MiB
 * tmpfs and another a read-only tmpfs. The mounts vanish with the process.
 * Where the machine forbids user namespaces the suite cannot run; it says so.
 */
const canUnshare = spawnSync('unshare', ['-rm', 'sh', '-c', 'mount -t tmpfs -o size=64k tmpfs /mnt'], { stdio: 'ignore' }).status === 0;

let w: BatchEnv;
const big = makeBytes(2 << 20, 301);
const small = makeBytes(30_000, 302);
const emb = makeBytes(5_000, 303);

beforeEach(async () => {
  w = await makeBatchEnv();
  w.server.setFile('/big', { body: big });
  w.server.setFile('/small', { body: small });
  w.server.setFile('/emb', { body: emb });
  await w.writeHistory([
    ['checkpoint', '/big', 'big.safetensors'],
    ['lora', '/small', 'small.safetensors'],
    ['embedding', '/emb', 'emb.pt'],
  ]);
  for (const type of ['checkpoint', 'lora', 'embedding'] as const) await mkdir(w.dirOf(type), { recursive: true });
});

afterEach(async () => {
  await w.cleanup();
});

describe.skipIf(!canUnshare)('disk faults (needs unshare -rm)', () => {
  it('fails the file on a full disk and on a read-only folder, naming the path, and the batch goes on', async () => {
    const script = [
      `mount -t tmpfs -o size=1m tmpfs '${w.dirOf('checkpoint')}'`,
      `mount -t tmpfs -o ro,size=1m tmpfs '${w.dirOf('embedding')}'`,
      `exec '${process.execPath}' '${BIN}' redownload all`,
    ].join(' && ');
    const run = await runCli([], { cwd: w.root, env: w.env, command: ['unshare', '-rm', 'sh', '-c', script] });
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`fail .*big\\.safetensors \\[disk\\] cannot write ${w.dirOf('checkpoint')}/big\\.safetensors\\.part: no space left on device`));
    expect(run.stderr).toMatch(new RegExp(`fail .*emb\\.pt \\[disk\\] cannot write ${w.dirOf('embedding')}/`));
    expect(run.stderr).not.toMatch(/internal error|\n\s+at /);
    // The file between them was downloaded: the batch went on.
    expect(sha256(await readFile(join(w.dirOf('lora'), 'small.safetensors')))).toBe(sha256(small));
    const failures = await readFile(join(w.root, 'failures.csv'), 'utf8');
    expect(failures.match(/,disk,/g)).toHaveLength(2);
    // Outside the namespace the folders are the plain, empty directories they were.
    expect(await readdir(w.dirOf('checkpoint'))).toEqual([]);
  });
});

describe('unwritable destinations without special privileges', () => {
  it('fails the file whose folder is a regular file, naming the path, and goes on', async () => {
    const { rm, writeFile } = await import('node:fs/promises');
    await rm(w.dirOf('embedding'), { recursive: true });
    await writeFile(w.dirOf('embedding'), 'not a folder');
    const run = await runCli(['redownload', 'all'], { cwd: w.root, env: w.env });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/fail .*emb\.pt \[disk\] cannot write/);
    expect(sha256(await readFile(join(w.dirOf('checkpoint'), 'big.safetensors')))).toBe(sha256(big));
  });
});
