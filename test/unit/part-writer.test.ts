import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DlrError } from '../../src/errors.js';
import { PartWriter } from '../../src/engine/part-file.js';

function bytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('PartWriter', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dlr-writer-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['chunks smaller than the batch', 4096, [100, 1000, 4095, 1, 4096, 7000, 3]],
    ['chunks larger than the batch', 1024, [5000, 1024, 1023, 1025, 9000]],
    ['a batch of one byte is still exact', 1024, [1, 1, 2048, 0, 3]],
  ])('writes %s byte-exactly and counts them', async (_name, batchBytes, sizes) => {
    const path = join(dir, 'f.part');
    const handle = await open(path, 'w');
    const writer = new PartWriter(handle, path, { batchBytes, syncEveryBytes: 4096 });
    const chunks = sizes.map((n, i) => bytes(n, i + 1));
    for (const chunk of chunks) writer.write(chunk);
    await writer.finish();
    await handle.close();
    const all = Buffer.concat(chunks);
    expect(writer.written).toBe(all.length);
    expect(sha(await readFile(path))).toBe(sha(all));
  });

  it('holds bytes below the batch size until finish, then writes them', async () => {
    const path = join(dir, 'f.part');
    const handle = await open(path, 'w');
    const writer = new PartWriter(handle, path, { batchBytes: 8192, syncEveryBytes: 0 });
    writer.write(bytes(3000, 9));
    expect(writer.written).toBe(0);
    expect((await readFile(path)).length).toBe(0);
    writer.write(bytes(6000, 10));
    expect(writer.written).toBe(8192);
    await writer.finish();
    await handle.close();
    expect(writer.written).toBe(9000);
  });

  it('appends to what a part already holds', async () => {
    const path = join(dir, 'f.part');
    const head = bytes(5000, 3);
    const tail = bytes(7000, 4);
    await (await open(path, 'w')).writeFile(head);
    const handle = await open(path, 'a');
    const writer = new PartWriter(handle, path, { batchBytes: 1024, syncEveryBytes: 2048 });
    writer.write(tail);
    await writer.finish();
    await handle.close();
    expect(sha(await readFile(path))).toBe(sha(Buffer.concat([head, tail])));
  });

  // /dev/full: every write(2) fails with ENOSPC, a real full disk.
  it.skipIf(!existsSync('/dev/full'))('turns a refused write into a disk error and counts only what the OS took', async () => {
    const path = '/dev/full';
    const handle = await open(path, 'w');
    const writer = new PartWriter(handle, path, { batchBytes: 1024, syncEveryBytes: 0 });
    let caught: unknown;
    try {
      writer.write(bytes(4096, 5));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(DlrError);
    expect((caught as DlrError).code).toBe('disk');
    expect((caught as DlrError).message).toMatch(/space/i);
    expect(writer.written).toBe(0);
    await writer.finish().catch(() => undefined);
    await handle.close();
  });
});
