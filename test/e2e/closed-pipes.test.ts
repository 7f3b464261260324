import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeBytes, sha256 } from '../../fixtures/server/fault-server.js';
import { makeBatchEnv, type BatchEnv } from '../helpers/batch-env.js';
import { BIN, cleanEnv } from '../helpers/cli.js';

// `dlr redownload all 2>&1 | head -1` from cron: the reader leaves after one
// line, and every later log line is a write to a closed pipe.

let env: BatchEnv;
beforeEach(async () => {
  env = await makeBatchEnv();
});
afterEach(async () => {
  await env.cleanup();
});

describe('a log reader that goes away', () => {
  it('does not stop the batch: every file, the summary JSON and the exit code are as if it had stayed', async () => {
    const bodies = [makeBytes(20_000, 1), makeBytes(30_000, 2), makeBytes(40_000, 3)];
    bodies.forEach((body, i) => env.server.setFile(`/m${i}.bin`, { body }));
    await env.writeHistory(bodies.map((_, i) => ['lora', `/m${i}.bin`, `m${i}.bin`] as const));
    const summary = join(env.root, 'summary.json');
    const child = spawn(process.execPath, [BIN, 'redownload', 'all', '--summary-json', summary], {
      cwd: env.root,
      env: cleanEnv(env.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Both readers leave at the first byte, like `head -c1`.
    child.stdout.once('data', () => child.stdout.destroy());
    child.stderr.once('data', () => child.stderr.destroy());
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(code).toBe(0);
    for (const [i, body] of bodies.entries()) expect(sha256(await readFile(join(env.dirOf('lora'), `m${i}.bin`)))).toBe(sha256(body));
    expect(JSON.parse(await readFile(summary, 'utf8'))).toMatchObject({ total: 3, success: 3, failed: 0 });
  });
});
