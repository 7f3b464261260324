import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cleanEnv } from '../helpers/cli.js';

const DEMO = fileURLToPath(new URL('../../dist-fixtures/demo/run-demo.js', import.meta.url));

describe('npm run demo', () => {
  it('shows priority order, a recovered 429, a throttled transfer that resumes, and a 404 in the failures CSV', async () => {
    const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [DEMO], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`demo did not finish:\n${out}`));
      }, 45_000);
      child.on('close', (c) => {
        clearTimeout(timer);
        resolve({ code: c, out });
      });
    });
    expect(code).toBe(0);
    expect(out).toMatch(/\[1\/5\] start checkpoint/);
    expect(out).toMatch(/\[1\/5\] retry 1 .*\[rate-limited\] throttled/);
    expect(out).toMatch(/\[1\/5\] resume .* from byte [1-9]/);
    expect(out).toMatch(/\[2\/5\] retry 1 .*HTTP 429/);
    expect(out).toMatch(/exit code 1/);
    expect(out).toMatch(/deleted_model\.safetensors,not-found/);
  }, 60_000);
});
