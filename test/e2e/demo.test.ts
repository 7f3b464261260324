import { execFileSync, spawn } from 'node:child_process';
import { copyFile, mkdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cleanEnv } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEMO = join(ROOT, 'dist-fixtures/demo/run-demo.js');

/** Runs a command to its end, stdout and stderr together. */
function run(
  file: string,
  args: readonly string[],
  options: { cwd?: string; timeoutMs: number; env?: Record<string, string> },
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: options.cwd, env: cleanEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${file} ${args.join(' ')} did not finish:\n${out}`));
    }, options.timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** What the demo must show: the main job over the shipped example, each of its points, and the real command. */
function expectTheDemo({ code, out }: { code: number | null; out: string }): void {
  expect(code, out).toBe(0);
  expect(out).toMatch(/\$ dlr redownload all --history download_history\.csv/);
  expect(out).toMatch(/\[1\/6\] start checkpoint .*dreamscape_v1\.safetensors https:\/\/civitai\.com\/models\/101/);
  expect(out).toMatch(/\[1\/6\] retry 1 .*\[rate-limited\] throttled/);
  expect(out).toMatch(/\[1\/6\] resume .* from byte [1-9]/);
  expect(out).toMatch(/\[1\/6\] done /);
  expect(out).toMatch(/\[2\/6\] retry 1 .*HTTP 429/);
  expect(out).toMatch(/\[2\/6\] done .*city_lights\.safetensors/);
  expect(out).toMatch(/\[6\/6\] done .*model_quantized\.onnx/);
  expect(out).toMatch(/success\s+5 \(verified against a published SHA-256: 5\)/);
  expect(out).toMatch(/exit code 1/);
  expect(out).toMatch(/deleted_model\.safetensors,not-found/);
  expect(out).toMatch(/npx dlr redownload all --history download_history\.csv/);
  // The workspace is a temp dir, removed afterwards.
  const workspace = /workspace \(removed afterwards\): (\S+)/.exec(out)?.[1];
  expect(workspace).toBeDefined();
}

describe('npm run demo (the quick start)', () => {
  it('runs redownload all over the shipped example: priority order, a recovered 429, a throttled transfer that resumes, a deleted model in the failures CSV', async () => {
    const result = await run(process.execPath, [DEMO], { timeoutMs: 60_000 });
    expectTheDemo(result);
    const workspace = /workspace \(removed afterwards\): (\S+)/.exec(result.out)![1]!;
    await expect(stat(workspace)).rejects.toMatchObject({ code: 'ENOENT' });
  }, 70_000);

  it("works as the README's first command on a fresh clone: nothing installed, nothing built", async () => {
    // The README's first command, as a newcomer copies it.
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const quickStart = readme.split(/^## /m).find((s) => s.startsWith('Quick start'));
    const first = /```sh\n(.+)\n/.exec(quickStart ?? '')?.[1];
    expect(first).toBe('npm ci && npm run demo');

    // A fresh clone: the files git would check out (tracked, or new and not ignored); no node_modules,
    // no dist/, no dist-fixtures/.
    const clone = await makeTempDir('dlr-clone-');
    try {
      const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
        .split('\0')
        .filter((f) => f !== '');
      for (const file of files) {
        const from = join(ROOT, file);
        if (!(await stat(from).catch(() => undefined))?.isFile()) continue;
        await mkdir(dirname(join(clone.path, file)), { recursive: true });
        await copyFile(from, join(clone.path, file));
      }
      // The command itself, with npm kept off the network (tests stay on loopback): `npm ci` installs
      // from npm's cache, which the project's own `npm ci` filled. Only where that cache lacks a package
      // does the installed node_modules stand in for it; `npm run demo` still builds all it runs.
      let result = await run('sh', ['-c', first!], { cwd: clone.path, timeoutMs: 240_000, env: { npm_config_offline: 'true' } });
      if (result.code !== 0 && /ENOTCACHED/.test(result.out)) {
        console.log('demo test: npm cache incomplete, so node_modules is linked instead of `npm ci --offline`');
        await rm(join(clone.path, 'node_modules'), { recursive: true, force: true });
        await symlink(join(ROOT, 'node_modules'), join(clone.path, 'node_modules'), 'dir');
        result = await run('npm', ['run', 'demo'], { cwd: clone.path, timeoutMs: 150_000 });
      }
      expectTheDemo(result);
    } finally {
      await clone.cleanup();
    }
  }, 300_000);
});

describe('npm run stand-in', () => {
  it('starts the stand-ins, prints a workspace and commands that work against them, and stops on Ctrl-C', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'dist-fixtures/demo/stand-in-cli.js')], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`stand-in did not get ready: ${out}`)), 15_000);
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (/^ready$/m.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    try {
      const work = /workspace \(kept\): (\S+)/.exec(out)![1]!;
      const hub = /Hugging Face Hub \(resolve, API, CDN\): (\S+)/.exec(out)![1]!;
      const listing = execFileSync(process.execPath, [join(ROOT, 'bin/dlr.js'), 'history'], {
        cwd: work,
        env: cleanEnv({ HF_ENDPOINT: hub, HOME: join(work, 'home') }),
        encoding: 'utf8',
      });
      expect(listing).toMatch(/checkpoint\tfetch/);
      await rm(work, { recursive: true, force: true });
    } finally {
      const exited = new Promise((r) => child.on('close', r));
      child.kill('SIGINT');
      await exited;
    }
  });
});
