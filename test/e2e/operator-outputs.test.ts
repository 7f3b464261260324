import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeBytes } from '../../fixtures/server/fault-server.js';
import { makeBatchEnv, type BatchEnv } from '../helpers/batch-env.js';
import { runCli } from '../helpers/cli.js';
import { parseExposition } from '../helpers/exposition.js';

let w: BatchEnv;
const a = makeBytes(50_000, 1);
const b = makeBytes(30_000, 2);

beforeEach(async () => {
  w = await makeBatchEnv();
  w.server.setFile('/a', { body: a });
  w.server.setFile('/b', { body: b });
  await w.writeHistory([
    ['lora', '/a', 'a.safetensors'],
    ['lora', '/b', 'b.safetensors'],
  ]);
});

afterEach(async () => {
  await w.cleanup();
});

const dlr = (args: string[], env: Record<string, string> = {}) => runCli(['redownload', 'all', '--jobs', '1', ...args], { cwd: w.root, env: { ...w.env, ...env } });

/** A webhook receiver on loopback: records each POST and answers `status` (or never, with 'hang'). */
async function startHook(answer: number | 'hang' = 200): Promise<{ url: string; posts: Array<{ path: string; headers: IncomingMessage['headers']; body: string }>; server: Server }> {
  const posts: Array<{ path: string; headers: IncomingMessage['headers']; body: string }> = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      posts.push({ path: req.url ?? '', headers: req.headers, body });
      if (answer === 'hang') return;
      res.writeHead(answer).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, posts, server };
}

function closeHook(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise<void>((resolve) => server.close(() => resolve()));
}

describe('--metrics-file', () => {
  it('writes a textfile in the exposition format; a failed run keeps the last success', async () => {
    const prom = join(w.root, 'dlr.prom');
    const ok = await dlr(['--metrics-file', prom]);
    expect(ok.code).toBe(0);
    const first = parseExposition(await readFile(prom, 'utf8'));
    expect(first.value('dlr_run_files', { outcome: 'done' })).toBe(2);
    expect(first.value('dlr_run_files', { outcome: 'failed' })).toBe(0);
    expect(first.value('dlr_run_bytes')).toBe(a.length + b.length);
    const lastSuccess = first.value('dlr_last_success_timestamp_seconds');
    expect(lastSuccess).toBe(first.value('dlr_last_run_timestamp_seconds'));
    expect(Math.abs(lastSuccess! - Date.now() / 1000)).toBeLessThan(60);
    const origin = new URL(w.server.url('/')).origin;
    expect(first.value('dlr_run_http_responses', { origin, status: '429' })).toBe(0);
    expect(first.value('dlr_run_limiter_wait_seconds', { origin })).toBeGreaterThanOrEqual(0);

    // The next night: one file gone from the server (404) and a 429 on the other.
    await writeFile(prom, (await readFile(prom, 'utf8')).replace(/^dlr_last_success_timestamp_seconds .*$/m, 'dlr_last_success_timestamp_seconds 1700000000.5'));
    await w.writeHistory([
      ['lora', '/a', 'a2.safetensors'],
      ['lora', '/gone', 'gone.safetensors'],
    ]);
    w.server.script('/a', { kind: 'status', status: 429 });
    const bad = await dlr(['--metrics-file', prom]);
    expect(bad.code).toBe(1);
    const second = parseExposition(await readFile(prom, 'utf8'));
    expect(second.value('dlr_last_success_timestamp_seconds')).toBe(1700000000.5);
    expect(second.value('dlr_last_run_timestamp_seconds')).toBeGreaterThan(lastSuccess!);
    expect(second.value('dlr_last_run_success')).toBe(0);
    expect(second.value('dlr_run_files', { outcome: 'failed' })).toBe(1);
    expect(second.value('dlr_run_files', { outcome: 'done' })).toBe(1);
    expect(second.value('dlr_run_http_responses', { origin, status: '429' })).toBe(1);
    // Written beside by temp + rename: no temp left over.
    await expect((await import('node:fs/promises')).readdir(w.root)).resolves.not.toContainEqual(expect.stringMatching(/\.tmp$/));
  });

  it('a run that stops with an error (history unreadable) still updates the last run, not the last success', async () => {
    const prom = join(w.root, 'dlr.prom');
    await writeFile(prom, '# HELP dlr_last_success_timestamp_seconds x\n# TYPE dlr_last_success_timestamp_seconds gauge\ndlr_last_success_timestamp_seconds 1700000000\n');
    await mkdir(join(w.root, 'dir-history'));
    const run = await dlr(['--metrics-file', prom, '--history', 'dir-history']);
    expect(run.code).not.toBe(0);
    const m = parseExposition(await readFile(prom, 'utf8'));
    expect(m.value('dlr_last_success_timestamp_seconds')).toBe(1700000000);
    expect(m.value('dlr_last_run_timestamp_seconds')).toBeGreaterThan(1700000000);
    expect(m.value('dlr_run_files', { outcome: 'done' })).toBeUndefined();
  });

  it('the config key metrics_file works, relative to the config file', async () => {
    const config = JSON.parse(await readFile(join(w.root, 'dlr.config.json'), 'utf8'));
    await writeFile(join(w.root, 'dlr.config.json'), JSON.stringify({ ...config, metrics_file: 'node.prom' }));
    expect((await dlr([])).code).toBe(0);
    expect(parseExposition(await readFile(join(w.root, 'node.prom'), 'utf8')).value('dlr_run_files', { outcome: 'done' })).toBe(2);
  });
});

describe('--notify', () => {
  it('POSTs a Slack/Discord-compatible JSON once when something failed, with no credential in it', async () => {
    const hook = await startHook(200);
    try {
      await writeFile(
        w.historyPath,
        `timestamp,model_type,url,filename\n2024-10-24 10:00:00,lora,${w.server.url('/a').replace('http://', 'http://alice:hunter2@')}?token=SECRETTOKEN,a.safetensors\n2024-10-24 10:00:00,lora,${w.server.url('/gone')}?token=SECRETTOKEN,gone.safetensors\n`,
      );
      const run = await dlr(['--notify', `${hook.url}/hooks/T000/B000/XYZSECRET`]);
      expect(run.code).toBe(1);
      expect(hook.posts).toHaveLength(1);
      const post = hook.posts[0]!;
      expect(post.path).toBe('/hooks/T000/B000/XYZSECRET');
      expect(post.headers['content-type']).toBe('application/json');
      for (const secret of ['hunter2', 'SECRETTOKEN', 'alice']) expect(post.body).not.toContain(secret);
      const payload = JSON.parse(post.body);
      expect(typeof payload.text).toBe('string');
      expect(payload.text).toMatch(/dlr redownload on .*1 of 2 failed \(not-found 1\)/);
      expect(payload.text).toMatch(/gone\.safetensors \[not-found\]/);
      expect(payload.summary).toMatchObject({ total: 2, success: 1, failed: 1 });
      expect(payload.dlr).toMatchObject({ outcome: 'failed', exitCode: 1 });
      // The webhook's path is its secret: never in the log.
      expect(run.stderr).not.toContain('XYZSECRET');
    } finally {
      await closeHook(hook.server);
    }
  });

  it('by default sends nothing when nothing failed; notify_on always sends', async () => {
    const hook = await startHook(204);
    try {
      expect((await dlr(['--notify', `${hook.url}/h`])).code).toBe(0);
      expect(hook.posts).toHaveLength(0);
      const config = JSON.parse(await readFile(join(w.root, 'dlr.config.json'), 'utf8'));
      await writeFile(join(w.root, 'dlr.config.json'), JSON.stringify({ ...config, notify_url: `${hook.url}/h2`, notify_on: 'always' }));
      const run = await dlr([]);
      expect(run.code).toBe(0);
      expect(hook.posts.map((p) => p.path)).toEqual(['/h2']);
      expect(JSON.parse(hook.posts[0]!.body).text).toMatch(/all 2 ok; 0 done, 2 skipped/);
    } finally {
      await closeHook(hook.server);
    }
  });

  it('a hook that answers 500, or is not there, is a warning: the exit code is the run\'s', async () => {
    const hook = await startHook(500);
    try {
      const run = await dlr(['--notify', `${hook.url}/x/SECRETPATH`, '--notify-on', 'always']);
      expect(run.code).toBe(0);
      expect(run.stderr).toMatch(/warning: notify to http:\/\/127\.0\.0\.1:\d+ failed: HTTP 500; the run's outcome is unchanged/);
      expect(run.stderr).not.toContain('SECRETPATH');
    } finally {
      await closeHook(hook.server);
    }
    // The listener is gone: connection refused.
    const refused = await dlr(['--notify', `${hook.url}/x`, '--notify-on', 'always']);
    expect(refused.code).toBe(0);
    expect(refused.stderr).toMatch(/warning: notify to http:\/\/127\.0\.0\.1:\d+ failed: connection refused/);
    // And a failed run keeps its 1.
    w.server.script('/a', { kind: 'status', status: 404 });
    await w.writeHistory([['lora', '/nope', 'nope.safetensors']]);
    const failed = await dlr(['--notify', `${hook.url}/x`]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/warning: notify to .* failed/);
  });

  it('a bad --notify or --notify-on is a usage error that does not echo the URL', async () => {
    const run = await dlr(['--notify', 'ftp://host/SECRET']);
    expect(run.code).toBe(2);
    expect(run.stderr).not.toContain('SECRET');
    const on = await dlr(['--notify', 'http://127.0.0.1:9/x', '--notify-on', 'sometimes']);
    expect(on.code).toBe(2);
    expect(on.stderr).toMatch(/--notify-on takes failure or always/);
  });
});

describe('--json', () => {
  it('every stdout line is a JSON object with a type; the last is the summary; the log stays on stderr', async () => {
    await mkdir(w.dirOf('lora'), { recursive: true });
    await writeFile(join(w.dirOf('lora'), 'b.safetensors'), 'there');
    w.server.script('/a', { kind: 'status', status: 503 });
    await w.writeHistory([
      ['lora', '/a', 'a.safetensors'],
      ['lora', '/b', 'b.safetensors'],
      ['lora', '/gone', 'gone.safetensors'],
    ]);
    const run = await dlr(['--json']);
    expect(run.code).toBe(1);
    const lines = run.stdout.trimEnd().split('\n');
    const events = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const e of events) expect(typeof e.type).toBe('string');
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('plan');
    expect(types.at(-1)).toBe('summary');
    expect(types).toEqual(expect.arrayContaining(['start', 'retry', 'done', 'skip', 'fail', 'origin-pause', 'notice']));
    expect(events.find((e) => e.type === 'plan')).toMatchObject({ files: 3, present: 1, invalid: 0 });
    expect(events.find((e) => e.type === 'retry')).toMatchObject({ retry: 1, code: 'rate-limited', reason: expect.stringMatching(/503/) });
    expect(events.find((e) => e.type === 'fail')).toMatchObject({ code: 'not-found', path: expect.stringMatching(/gone\.safetensors$/) });
    expect(events.at(-1)).toMatchObject({ type: 'summary', exitCode: 1, total: 3, success: 1, skipped: 1, failed: 1 });
    // The human log is still there, on stderr.
    expect(run.stderr).toMatch(/fail .*gone\.safetensors/);
    expect(run.stderr).toMatch(/summary: finished/);
  });

  it('--dry-run --json lists the plan as JSON lines', async () => {
    const run = await dlr(['--json', '--dry-run']);
    expect(run.code).toBe(0);
    const events = run.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(events.map((e) => e.type)).toEqual(['planned', 'planned']);
    expect(events[0]).toMatchObject({ index: 1, total: 2, modelType: 'lora' });
  });

  it('--summary-json lists every file in plan order with its outcome', async () => {
    await w.writeHistory([
      ['lora', '/a', 'a.safetensors'],
      ['lora', '/gone', 'gone.safetensors'],
    ]);
    const run = await dlr(['--summary-json', 's.json']);
    expect(run.code).toBe(1);
    const summary = JSON.parse(await readFile(join(w.root, 's.json'), 'utf8'));
    expect(summary.files).toEqual([
      { url: w.server.url('/a'), path: join(w.dirOf('lora'), 'a.safetensors'), type: 'lora', outcome: 'done', code: null, bytes: a.length, retries: 0, attempts: 1 },
      { url: w.server.url('/gone'), path: join(w.dirOf('lora'), 'gone.safetensors'), type: 'lora', outcome: 'failed', code: 'not-found', bytes: 0, retries: 0, attempts: 1 },
    ]);
  });
});

describe('quiet nights', () => {
  beforeEach(async () => {
    await mkdir(w.dirOf('lora'), { recursive: true });
    await writeFile(join(w.dirOf('lora'), 'a.safetensors'), 'there');
    await writeFile(join(w.dirOf('lora'), 'b.safetensors'), 'there');
  });

  it('a run with nothing to do writes one line', async () => {
    const run = await dlr([]);
    expect(run.code).toBe(0);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\S+ all 2 files present \(checked in \d+(\.\d)?s\)$/);
    expect(w.server.requests).toHaveLength(0);
  });

  it('-q prints nothing at all when nothing failed, and the summary when something did', async () => {
    const quiet = await dlr(['-q']);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    expect(quiet.stdout).toBe('');
    await writeFile(join(w.dirOf('lora'), 'b.safetensors'), '');
    await (await import('node:fs/promises')).rm(join(w.dirOf('lora'), 'b.safetensors'));
    w.server.setFile('/b', { body: b });
    const quietWork = await dlr(['-q']);
    expect(quietWork.code).toBe(0);
    expect(quietWork.stderr).toBe('');
    await w.writeHistory([['lora', '/gone', 'gone.safetensors']]);
    const trouble = await dlr(['-q']);
    expect(trouble.code).toBe(1);
    expect(trouble.stderr).toMatch(/fail .*gone\.safetensors/);
    expect(trouble.stderr).toMatch(/summary: finished/);
  });

  it('a long transfer logs its progress every interval in plain mode', async () => {
    await (await import('node:fs/promises')).rm(join(w.dirOf('lora'), 'a.safetensors'));
    w.server.script('/a', { kind: 'trickle', bytesPerSec: 40_000, afterBytes: 5_000 });
    const run = await dlr([], { DLR_PROGRESS_INTERVAL: '0.3' });
    expect(run.code).toBe(0);
    const beats = run.stderr.split('\n').filter((l) => / \[1\/2\] progress a\.safetensors /.test(l));
    expect(beats.length).toBeGreaterThanOrEqual(1);
    expect(beats[0]).toMatch(/progress a\.safetensors \d+(\.\d)? KiB\/48\.8 KiB/);
    // Without the knob (every 5 minutes), a second-long transfer logs none.
    await (await import('node:fs/promises')).rm(join(w.dirOf('lora'), 'a.safetensors'));
    w.server.script('/a', { kind: 'trickle', bytesPerSec: 40_000, afterBytes: 5_000 });
    const quietRun = await dlr([]);
    expect(quietRun.stderr).not.toMatch(/ progress /);
  });
});
