import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useFaultServer } from '../helpers/fault-server-context.js';
import { makeBytes, sha256 } from '../../fixtures/server/fault-server.js';
import { ANSI, FAST, runCli, signalWhenPartHasBytes } from '../helpers/cli.js';
import { fileSha } from '../helpers/engine.js';
import { formatBytes } from '../../src/util/units.js';

const body = makeBytes(500_000, 41);
const path = '/models/ckpt.safetensors';

const t = useFaultServer((server) => server.setFile(path, { body }));

const target = () => join(t.dir, 'ckpt.safetensors');

function expectPlainLog(stderr: string) {
  expect(stderr).not.toMatch(ANSI);
  expect(stderr).not.toContain('\r');
  for (const line of stderr.trim().split('\n')) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S/);
}

describe('dlr download', () => {
  it('saves the file, prints its path on stdout and plain timestamped lines on stderr', async () => {
    const run = await runCli(['download', t.server.url(path), '--dir', t.dir, ...FAST]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${target()}\n`);
    expectPlainLog(run.stderr);
    expect(run.stderr).toMatch(/ done .*ckpt\.safetensors 488\.3 KiB/);
    expect(await fileSha(target())).toBe(sha256(body));
  });

  it('saves to an exact path with -o', async () => {
    const out = join(t.dir, 'nested', 'renamed.bin');
    const run = await runCli(['download', t.server.url(path), '-o', out, ...FAST]);
    expect(run.code).toBe(0);
    expect(await fileSha(out)).toBe(sha256(body));
  });

  it('fails a body in an unsupported content coding as invalid-response, and exits', async () => {
    t.server.setFile('/zstd.bin', { body, headers: { 'content-encoding': 'zstd' } });
    const run = await runCli(['download', t.server.url('/zstd.bin'), '--dir', t.dir, ...FAST], { timeoutMs: 8_000 });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/\[invalid-response\] unsupported Content-Encoding: zstd/);
    expect(await readdir(t.dir)).toEqual([]);
  });

  it('retries after 429 and succeeds (seed case 2)', async () => {
    t.server.script(path, { kind: 'status', status: 429 });
    const run = await runCli(['download', t.server.url(path), '--dir', t.dir, ...FAST]);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/retry 1 in .* \[rate-limited\] HTTP 429/);
    expect(t.server.requestsTo(path)).toHaveLength(2);
    expect(await fileSha(target())).toBe(sha256(body));
  });

  it('detects a trickle below the speed floor, then resumes with Range (seed case 3)', async () => {
    t.server.script(path, { kind: 'trickle', bytesPerSec: 3_000, afterBytes: 100_000 });
    const run = await runCli(['download', t.server.url(path), '--dir', t.dir, ...FAST, '--speed-floor', '10KiB', '--speed-window', '0.4']);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/\[rate-limited\] throttled: below 10\.0 KiB\/s/);
    expect(run.stderr).toMatch(/resume .* from byte [1-9]\d*/);
    expect(t.server.requestsTo(path)[1]?.headers.range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(await fileSha(target())).toBe(sha256(body));
  });

  it('skips an existing file and keeps it untouched (seed case 4), and replaces it with --force', async () => {
    await writeFile(target(), 'old');
    const skip = await runCli(['download', t.server.url(path), '--dir', t.dir, ...FAST]);
    expect(skip.code).toBe(0);
    expect(skip.stderr).toMatch(/ skip .*already exists/);
    // The name came from the URL, so one request was needed to learn it; the body was not read into a part.
    expect(await readFile(target(), 'utf8')).toBe('old');
    const forced = await runCli(['download', t.server.url(path), '--dir', t.dir, '--force', ...FAST]);
    expect(forced.code).toBe(0);
    expect(await fileSha(target())).toBe(sha256(body));
    expect(await readdir(t.dir)).toEqual(['ckpt.safetensors']);
  });

  it('fails a 404 with one line, exit 1, no stack trace', async () => {
    const run = await runCli(['download', t.server.url('/missing.bin'), '--dir', t.dir, ...FAST]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/ fail .*\[not-found\] HTTP 404/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expectPlainLog(run.stderr);
  });

  it('reports a 403 as forbidden with what the server said, and no guess about early access', async () => {
    t.server.script(path, { kind: 'status', status: 403, body: '{"error":"Access denied"}' });
    const run = await runCli(['download', t.server.url(path), '--dir', t.dir, ...FAST]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/\[forbidden\] HTTP 403 Forbidden: Access denied$/m);
    expect(run.stderr).not.toMatch(/early access/i);
  });

  it('mentions the API key on 401', async () => {
    t.server.script(path, { kind: 'status', status: 401 });
    const run = await runCli(['download', t.server.url(path), '--dir', t.dir, ...FAST]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/\[auth-required\].*API key/);
  });

  it('never prints a token from the URL', async () => {
    const run = await runCli(['download', `${t.server.url('/missing.bin')}?token=sk-e2e-secret`, '--dir', t.dir, ...FAST]);
    expect(run.code).toBe(1);
    expect(run.stderr + run.stdout).not.toContain('sk-e2e-secret');
    expect(run.stderr).toContain('token=***');
  });

  it.each([
    [['download'], /missing required argument/],
    [['download', 'not a url'], /not a valid URL/],
    [['download', 'ftp://example.invalid/x'], /unsupported URL scheme ftp:/],
    [['download', 'http://127.0.0.1:1/x', '--retry-delays', '60,abc'], /--retry-delays/],
    [['download', 'http://127.0.0.1:1/x', '--speed-floor', 'fast'], /--speed-floor/],
    [['download', 'http://127.0.0.1:1/x', '--dir', '.', '-o', 'x'], /either --output, or --dir/],
    [['download', 'http://127.0.0.1:1/x', '--bogus'], /unknown option/],
    [['frobnicate'], /unknown command/],
  ])('exits 2 with a one-line message for %j', async (args, message) => {
    const run = await runCli(args, { cwd: t.dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toMatch(/^dlr: [^\n]+\n$/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(await readdir(t.dir)).toEqual([]);
  });

  it.each([
    [['download', 'http://127.0.0.1:1/x', '--frobnicate'], "dlr: unknown option '--frobnicate' (see dlr download --help)"],
    [['download'], "dlr: missing required argument 'url' (see dlr download --help)"],
    [['redownload', 'all', '--forc'], "dlr: unknown option '--forc'; did you mean --force? (see dlr redownload --help)"],
    [['frobnicate'], "dlr: unknown command 'frobnicate' (see dlr --help)"],
  ])('words an argument error from the parser as one dlr: line naming the right --help: %j', async (args, line) => {
    const run = await runCli(args, { cwd: t.dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`${line}\n`);
    expect(run.stdout).toBe('');
  });

  it('documents the exit codes in --help', async () => {
    const run = await runCli(['--help']);
    expect(run.code).toBe(0);
    for (const code of ['0 ', '1 ', '2 ', '75 ', '130 ', '143 ']) expect(run.stdout).toContain(`\n  ${code}`);
  });

  it('stops on SIGTERM with exit 143 (128 + 15, as supervisors expect) and keeps the part', async () => {
    t.server.script(path, { kind: 'trickle', bytesPerSec: 200_000, afterBytes: 100_000 });
    const partPath = `${target()}.part`;
    const run = await runCli(['download', t.server.url(path), '--dir', t.dir, ...FAST], { onSpawn: signalWhenPartHasBytes(partPath, 'SIGTERM') });
    expect(run.code).toBe(143);
    expect(run.stderr).toMatch(/ SIGTERM: stopping; parts are kept/);
    expect(run.stderr).toMatch(/\[interrupted\]/);
    expect((await stat(partPath)).size).toBeGreaterThan(0);
  });

  it('stops on SIGINT with exit 130, keeps the part, and the next run resumes byte-exact', async () => {
    t.server.script(path, { kind: 'trickle', bytesPerSec: 200_000, afterBytes: 100_000 });
    const partPath = `${target()}.part`;
    const first = await runCli(['download', t.server.url(path), '--dir', t.dir, ...FAST], { onSpawn: signalWhenPartHasBytes(partPath, 'SIGINT') });
    expect(first.code).toBe(130);
    expect(first.stderr).toMatch(/\[interrupted\]/);
    const kept = (await stat(partPath)).size;
    expect(kept).toBeGreaterThan(0);
    const second = await runCli(['download', t.server.url(path), '--dir', t.dir, ...FAST]);
    expect(second.code).toBe(0);
    const ranges = t.server.requestsTo(path).map((r) => r.headers.range);
    expect(ranges.at(-1)).toBe(`bytes=${kept}-`);
    // Where it resumed, and size and speed of what this run fetched, not of the whole file.
    expect(second.stderr).toContain(` resume ${target()} from byte ${kept} (${formatBytes(kept)})`);
    expect(second.stderr).toContain(` done ${target()} ${formatBytes(body.length)}, resumed from ${formatBytes(kept)}: fetched ${formatBytes(body.length - kept)} in `);
    expect(await fileSha(target())).toBe(sha256(body));
    expect(await readdir(t.dir)).toEqual(['ckpt.safetensors']);
  });
});
