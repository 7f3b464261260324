import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeBytes, sha256, startFaultServer, type FaultServer } from '../../fixtures/server/fault-server.js';
import { installHub } from '../../fixtures/server/huggingface.js';
import { makeBatchEnv, type BatchEnv } from '../helpers/batch-env.js';
import { BIN, cleanEnv, FAST, runCli } from '../helpers/cli.js';

const a = makeBytes(20_000, 11);
const b = makeBytes(30_000, 12);
let w: BatchEnv;
beforeEach(async () => {
  w = await makeBatchEnv();
  w.server.setFile('/a.bin', { body: a });
  w.server.setFile('/b.bin', { body: b });
});
afterEach(() => w.cleanup());

const dlr = (args: string[], env: Record<string, string> = {}) => runCli([...args, ...FAST], { cwd: w.root, env: { ...w.env, ...env } });

describe('dlr download with several URLs, as wget -i and aria2c', () => {
  it('fetches every URL given, -j at a time through one client, and prints each path', async () => {
    const run = await dlr(['download', w.server.url('/a.bin'), w.server.url('/b.bin'), '-d', 'out', '-j', '2']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim().split('\n').sort()).toEqual([join(w.root, 'out', 'a.bin'), join(w.root, 'out', 'b.bin')].sort());
    expect(sha256(await readFile(join(w.root, 'out', 'b.bin')))).toBe(sha256(b));
    expect(run.stderr).toMatch(/2 of 2 done/);
  });

  it('-i FILE: one URL a line, # comments and blank lines skipped; a failed one fails the run (exit 1), the others are saved', async () => {
    await writeFile(join(w.root, 'urls.txt'), `# models\n${w.server.url('/a.bin')}\n\n   # indented comment\n${w.server.url('/gone.bin')}\n${w.server.url('/b.bin')}\n`);
    const run = await dlr(['download', '-i', 'urls.txt', '-d', 'out']);
    expect(run.code).toBe(1);
    expect((await readdir(join(w.root, 'out'))).sort()).toEqual(['a.bin', 'b.bin']);
    expect(run.stderr).toMatch(/2 of 3 done, 1 failed/);
  });

  // The fault server runs in this process: the CLI runs asynchronously, through a shell for the pipes.
  const shell = (script: string) => runCli([], { cwd: w.root, env: { ...w.env, DLR: BIN, NODE: process.execPath }, command: ['sh', '-c', script] });

  it('-i - reads the list from stdin; a bad line is a usage error naming it, before anything is fetched', async () => {
    const flags = FAST.join(' ');
    const ok = await shell(`printf '%s\\n' '${w.server.url('/a.bin')}' '${w.server.url('/b.bin')}' | "$NODE" "$DLR" download -i - -d out ${flags}`);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout.trim().split('\n')).toHaveLength(2);
    const before = w.server.requests.length;
    const bad = await shell(`printf '%s\\n' '${w.server.url('/a.bin')}' 'ftp://example.invalid/x' | "$NODE" "$DLR" download -i - -d out ${flags}`);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toMatch(/^dlr: stdin line 2: unsupported URL scheme ftp:/);
    expect(w.server.requests.length).toBe(before);
  });

  it('-o - writes the body to stdout with no part file; -o with several URLs is a usage error', async () => {
    const run = await shell(`"$NODE" "$DLR" download '${w.server.url('/b.bin')}' -o - ${FAST.join(' ')} > piped.bin`);
    expect(run.code, run.stderr).toBe(0);
    expect(sha256(await readFile(join(w.root, 'piped.bin')))).toBe(sha256(b));
    expect(run.stderr).toMatch(/29\.3 KiB to stdout/);
    expect((await readdir(w.root)).filter((n) => n.startsWith('b.bin'))).toEqual([]);
    const two = await dlr(['download', w.server.url('/a.bin'), w.server.url('/b.bin'), '-o', 'x.bin']);
    expect(two.code).toBe(2);
    expect(two.stderr).toMatch(/--output names one file/);
  });
});

describe('-v, --user-agent, --no-progress', () => {
  it('-v logs each request and answer with credentials masked; --user-agent is what every request sends', async () => {
    const run = await dlr(['download', w.server.url('/a.bin'), '-d', 'out', '-v', '--user-agent', 'fetcher/9.1', '-H', 'Authorization: Bearer sekrit-value-42']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(new RegExp(`> GET ${w.server.url('/a.bin').replace(/[.?]/g, '\\$&')} \\(.*authorization: \\*\\*\\*`));
    expect(run.stderr).toMatch(/< 200 GET .*\/a\.bin \d+ ms \(content-length: 20000/);
    expect(run.stderr).toMatch(/user-agent: fetcher\/9\.1/);
    expect(run.stderr).not.toContain('sekrit-value-42');
    expect(w.server.requests.map((r) => r.headers['user-agent'])).toEqual(['fetcher/9.1']);
  });

  it('--no-progress gives plain timestamped lines on a real terminal, where bars would be drawn', async (ctx) => {
    // util-linux `script` gives dlr a pseudo-terminal, as terminal.test.ts does.
    if (spawnSync('script', ['--version'], { stdio: 'ignore' }).status !== 0) return ctx.skip();
    w.server.setFile('/slow.bin', { body: makeBytes(200_000, 14) });
    w.server.script('/slow.bin', { kind: 'trickle', bytesPerSec: 400_000, afterBytes: 0 });
    const onTty = (extra: string) =>
      runCli([], {
        cwd: w.root,
        env: { ...w.env, TERM: 'xterm', DLR: BIN, NODE: process.execPath },
        command: ['script', '-qec', `"$NODE" "$DLR" download '${w.server.url('/slow.bin')}' -d out -f ${extra} ${FAST.join(' ')}`, '/dev/null'],
      });
    const bars = await onTty('');
    expect(bars.code, bars.stdout).toBe(0);
    expect(bars.stdout).toMatch(/\u001b\[/);
    const plain = await onTty('--no-progress');
    expect(plain.code, plain.stdout).toBe(0);
    expect(plain.stdout).not.toMatch(/\u001b\[/);
    expect(plain.stdout).toMatch(/^\d{4}-\d\d-\d\dT\S+ .*start/m);
  });
});

describe('the Hugging Face token from the config and from `hf auth login`', () => {
  let hub: FaultServer;
  let cdn: FaultServer;
  const body = makeBytes(10_000, 13);
  beforeEach(async () => {
    [hub, cdn] = await Promise.all([startFaultServer(), startFaultServer()]);
    installHub(hub, cdn, [{ repo: 'org/gated', commit: 'c0ffee'.padEnd(40, '0'), gated: true, files: [{ path: 'w.bin', body, lfs: true }] }], 'hf_right_token');
  });
  afterEach(async () => {
    await hub.close();
    await cdn.close();
  });

  it('uses hf_token from the config, the token file without it, and HF_TOKEN over both', async () => {
    const url = `${hub.origin}/org/gated/resolve/main/w.bin`;
    const config = JSON.parse(await readFile(join(w.root, 'dlr.config.json'), 'utf8'));
    await writeFile(join(w.root, 'dlr.config.json'), JSON.stringify({ ...config, hf_token: 'hf_right_token' }));
    const viaConfig = await dlr(['download', url, '-d', 'one'], { HF_ENDPOINT: hub.origin });
    expect(viaConfig.code, viaConfig.stderr).toBe(0);
    const envWins = await dlr(['download', url, '-d', 'two'], { HF_ENDPOINT: hub.origin, HF_TOKEN: 'hf_wrong' });
    expect(envWins.code).toBe(1);
    expect(envWins.stderr).not.toContain('hf_right_token');
    await writeFile(join(w.root, 'dlr.config.json'), JSON.stringify(config));
    await mkdir(join(w.root, 'hfhome'));
    await writeFile(join(w.root, 'hfhome', 'token'), 'hf_right_token\n');
    const viaFile = await dlr(['download', url, '-d', 'three'], { HF_ENDPOINT: hub.origin, HF_HOME: join(w.root, 'hfhome') });
    expect(viaFile.code, viaFile.stderr).toBe(0);
  });
});

describe('completion and man page, from the same definitions as --help', () => {
  it('names every command and option of the help, and the scripts parse', async () => {
    const help = await runCli(['download', '--help']);
    const longs = [...help.stdout.matchAll(/--[a-z][a-z-]+/g)].map((m) => m[0]);
    expect(longs).toContain('--input-file');
    const bash = await runCli(['completion', 'bash']);
    expect(bash.code).toBe(0);
    for (const flag of longs) expect(bash.stdout).toContain(flag);
    expect(spawnSync('bash', ['-n'], { input: bash.stdout }).status).toBe(0);
    for (const shell of ['zsh', 'fish']) {
      const run = await runCli(['completion', shell]);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('input-file');
      for (const cmd of ['download', 'redownload', 'verify', 'history', 'completion', 'man']) expect(run.stdout).toContain(cmd);
    }
    expect((await runCli(['completion', 'tcsh'])).code).toBe(2);
    const man = await runCli(['man']);
    expect(man.code).toBe(0);
    expect(man.stdout).toMatch(/^\.TH DLR 1 /);
    for (const cmd of ['download', 'redownload', 'verify', 'history']) expect(man.stdout).toMatch(new RegExp(`^\\.SS "dlr ${cmd}`, 'm'));
    expect(man.stdout).toContain('\\-\\-input\\-file');
    expect(man.stdout).toMatch(/^\.SH EXIT STATUS/m);
  });
});
