import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeBytes, sha256, startFaultServer, type FaultServer } from '../../fixtures/server/fault-server.js';
import { MAX_CONTENT_DISPOSITION_CHARS } from '../../src/http/content-disposition.js';
import { runCli, type CliRun } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/temp-dir.js';

/**
 * The promise: whatever the input — a broken CSV or config, a hostile URL or
 * file name, a server that lies — dlr ends with a clear message and the right
 * exit or error code, never a stack trace, never a write outside its
 * folders, never a hang. One row per case.
 */
let server: FaultServer;
let tmp: { path: string; cleanup: () => Promise<void> };
let ws: string;
let outside: string;
const body = makeBytes(50_000, 201);

const FAST = ['--retry-delays', '0.01,0.01', '--timeout', '2', '--connect-timeout', '2'];

beforeEach(async () => {
  server = await startFaultServer();
  tmp = await makeTempDir('dlr-bad-');
  ws = join(tmp.path, 'ws');
  outside = join(tmp.path, 'outside');
  await mkdir(ws);
  await mkdir(outside);
  await mkdir(join(ws, 'home'));
  server.setFile('/ok.bin', { body });
  await writeConfig({});
});

afterEach(async () => {
  await server.close();
  await tmp.cleanup();
});

function writeConfig(extra: Record<string, unknown>) {
  return writeFile(
    join(ws, 'dlr.config.json'),
    JSON.stringify({
      download_paths: { checkpoint: 'models/ckpt', lora: 'models/lora', embedding: 'models/emb', default: 'models/other' },
      history_file: 'history.csv',
      rate_limit_settings: { sleep_between_downloads: 0, retry_delays: [0.01, 0.01], speed_threshold_kbps: 0 },
      ...extra,
    }),
  );
}

const writeHistory = (content: string | Buffer) => writeFile(join(ws, 'history.csv'), content);
const rows = (...lines: string[]) => writeHistory(['timestamp,model_type,url,filename', ...lines].join('\n') + '\n');
const row = (url: string, filename = 'f.bin', type = 'lora') => `t,${type},${url},${filename}`;

/** Every file under the workspace, relative to it, minus what the case itself wrote. */
async function filesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)));
}

/** Raw HTTP on the socket, for servers that lie in ways node:http refuses to. */
function raw(res: ServerResponse, head: string, payload: Buffer, status = '200 OK') {
  const socket = res.socket!;
  socket.write(`HTTP/1.1 ${status}\r\n${head}\r\n\r\n`);
  socket.end(payload);
}

interface Case {
  readonly name: string;
  readonly setup?: () => Promise<void> | void;
  readonly args: () => string[];
  readonly code: number;
  /** Matched against stderr (and stdout for data commands). */
  readonly message?: RegExp;
  /** Expected error code in the failures CSV. */
  readonly failure?: string;
  readonly check?: () => Promise<void>;
}

const redownload = () => ['redownload', 'all', ...FAST];
const download = (path: string, ...more: string[]) => () => ['download', server.url(path), '--dir', join(ws, 'dl'), ...FAST, ...more];

const cases: Case[] = [
  // --- history CSVs
  { name: 'a binary file as history', setup: () => writeHistory(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])), args: redownload, code: 2, message: /history\.csv contains NUL bytes/ },
  { name: 'a history without a header', setup: () => writeHistory(`t,lora,${'http://h/a'},a.bin\n`), args: redownload, code: 2, message: /missing columns? /},
  { name: 'a history with the wrong header', setup: () => writeHistory('date,kind,link,name\nt,lora,http://h/a,a\n'), args: redownload, code: 2, message: /missing columns model_type, url, filename/ },
  { name: 'an unterminated quote', setup: () => writeHistory('timestamp,model_type,url,filename\nt,lora,"http://h/a,a.bin\n'), args: redownload, code: 2, message: /line 2/ },
  { name: 'an empty history file', setup: () => writeHistory(''), args: redownload, code: 2, message: /is empty/ },
  { name: 'a history with only a header', setup: () => rows(), args: redownload, code: 0, message: /nothing to do/ },
  { name: 'NUL bytes in a file name', setup: () => writeHistory(`timestamp,model_type,url,filename\nt,lora,http://h/a,a\0b.bin\n`), args: redownload, code: 2, message: /NUL/ },
  { name: 'a Latin-1 history', setup: () => writeHistory(Buffer.from('timestamp,model_type,url,filename\nt,lora,http://h/a,caf\xe9.bin\n', 'latin1')), args: redownload, code: 2, message: /not valid UTF-8/ },
  { name: 'a UTF-16 history', setup: () => writeHistory(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('timestamp,model_type,url,filename\n', 'utf16le')])), args: redownload, code: 2, message: /UTF-16/ },
  {
    name: 'a 1 MB line (an extra column) before a good one',
    setup: () => writeHistory(`timestamp,model_type,url,filename,note\nt,lora,${server.url('/x.bin')},x.bin,${'x'.repeat(1 << 20)}\nt,lora,${server.url('/ok.bin')},ok.bin,\n`),
    args: redownload,
    code: 1,
    failure: 'invalid-row',
    message: /line 2: the row is longer than 65536 characters/,
    // One bad line costs its own row, not the file.
    check: async () => expect(sha256(await readFile(join(ws, 'models/lora/ok.bin')))).toBe(sha256(body)),
  },
  {
    name: '100k rows (planned, not fetched)',
    setup: () => rows(...Array.from({ length: 100_000 }, (_, i) => row(`http://127.0.0.1:9/m/${i}`, `m${i}.bin`))),
    args: () => ['redownload', 'all', '--dry-run'],
    code: 0,
    check: async () => undefined,
  },
  {
    name: 'duplicate and conflicting rows (the last wins)',
    setup: () => rows(row(server.url('/ok.bin'), 'first.bin', 'checkpoint'), row(server.url('/ok.bin'), 'second.bin', 'lora'), row(server.url('/ok.bin'), 'second.bin', 'lora')),
    args: redownload,
    code: 0,
    check: async () => {
      expect(server.requestsTo('/ok.bin')).toHaveLength(1);
      expect(await filesIn(join(ws, 'models'))).toEqual(['lora/second.bin']);
    },
  },
  { name: 'rows of bare commas', setup: () => writeHistory(`timestamp,model_type,url,filename\n,,,\n${row(server.url('/ok.bin'), 'ok.bin')}\n,,,\n`), args: redownload, code: 0 },
  { name: 'a type nobody knows', setup: () => rows(row(server.url('/ok.bin'), 'x.bin', 'hypernetwork-v9')), args: redownload, code: 0, check: async () => expect(await filesIn(join(ws, 'models'))).toEqual(['other/x.bin']) },
  // --- configs
  { name: 'invalid JSON config', setup: () => writeFile(join(ws, 'dlr.config.json'), '{"history_file": '), args: redownload, code: 2, message: /dlr\.config\.json.*JSON/ },
  { name: 'a config that is a list', setup: () => writeFile(join(ws, 'dlr.config.json'), '[]'), args: redownload, code: 2, message: /dlr\.config\.json/ },
  { name: 'a delay of the wrong type', setup: () => writeConfig({ rate_limit_settings: { retry_delays: '60,180' } }), args: redownload, code: 2, message: /retry_delays must be a list/ },
  { name: 'a negative delay', setup: () => writeConfig({ rate_limit_settings: { retry_delays: [60, -1] } }), args: redownload, code: 2, message: /retry_delays\[1\]/ },
  { name: 'a huge delay', setup: () => writeConfig({ rate_limit_settings: { retry_delays: [1e12] } }), args: redownload, code: 2, message: /retry_delays\[0\]/ },
  { name: 'a negative speed floor', setup: () => writeConfig({ rate_limit_settings: { speed_threshold_kbps: -1 } }), args: redownload, code: 2, message: /speed_threshold_kbps/ },
  { name: 'an unknown config key', setup: () => writeConfig({ proxy: 'x' }), args: redownload, code: 2, message: /unknown key "proxy"/ },
  { name: 'an unknown type key in download_paths', setup: () => writeConfig({ download_paths: { 'lo/ra': 'x' } }), args: redownload, code: 2, message: /unknown key "lo\/ra" in download_paths/ },
  { name: 'a civitai.base_url that is not http', setup: () => writeConfig({ civitai: { base_url: 'file:///etc' } }), args: redownload, code: 2, message: /civitai\.base_url must be an http\(s\) URL/ },
  { name: 'a config path that is a directory', args: () => ['redownload', 'all', '--config', outside], code: 2, message: /config/ },
  { name: 'a bad flag value', setup: () => rows(), args: () => ['redownload', 'all', '--sleep', 'soon'], code: 2, message: /--sleep takes seconds/ },
  // --- URLs in the history
  ...(['file:///etc/passwd', 'ftp://127.0.0.1/x.bin', 'javascript:alert(1)', 'data:text/plain,hi', 'not a url'] as const).map(
    (url): Case => ({ name: `the URL ${url}`, setup: () => rows(row(url)), args: redownload, code: 1, failure: 'invalid-row', message: /invalid-row|unsupported URL scheme|invalid URL/ }),
  ),
  {
    name: 'credentials in the URL',
    setup: () => rows(row(server.url('/ok.bin').replace('http://', 'http://alice:pa55word@'), 'ok.bin')),
    args: redownload,
    code: 0,
    check: async () => expect(server.requests[0]?.headers.authorization).toBe(`Basic ${Buffer.from('alice:pa55word').toString('base64')}`),
  },
  { name: 'an IPv6 literal nobody listens on', setup: () => rows(row(`http://[::1]:${server.port}/ok.bin`)), args: redownload, code: 1, failure: 'network' },
  { name: 'a unicode host (planned only)', setup: () => rows(row('http://例え.テスト/モデル.safetensors', '')), args: () => ['history', '--json'], code: 0, message: /xn--r8jz45g\.xn--zckzah/ },
  {
    name: 'an extremely long URL',
    setup: () => rows(row(`${server.url('/ok.bin')}?q=${'a'.repeat(20_000)}`)),
    args: redownload,
    code: 1,
    failure: 'invalid-row',
    message: /line 2: the URL is longer than 8192 characters/,
    check: async () => expect(server.requests).toHaveLength(0),
  },
  // --- file names from the history: all land inside the type folder
  ...(
    [
      ['../../../outside/escape.bin', 'escape.bin'],
      ['/etc/passwd', 'passwd'],
      ['C:\\Windows\\evil.bin', 'evil.bin'],
      ['bell\u0007\u001b[31mred.bin', 'bell[31mred.bin'],
      ['CON', '_CON'],
      ['nul.txt', '_nul.txt'],
    ] as const
  ).map(
    ([name, saved]): Case => ({
      name: `the file name ${JSON.stringify(name)}`,
      setup: () => rows(row(server.url('/ok.bin'), name)),
      args: redownload,
      code: 0,
      check: async () => expect(await filesIn(join(ws, 'models'))).toEqual([`lora/${saved}`]),
    }),
  ),
  {
    name: 'a 300-byte file name',
    setup: () => rows(row(server.url('/ok.bin'), `${'n'.repeat(300)}.safetensors`)),
    args: redownload,
    code: 0,
    check: async () => {
      const [saved] = await filesIn(join(ws, 'models/lora'));
      expect(Buffer.byteLength(saved ?? '')).toBeLessThanOrEqual(245);
      expect(saved?.endsWith('.safetensors')).toBe(true);
    },
  },
  { name: 'an empty file name (the server names it)', setup: () => rows(row(server.url('/ok.bin'), '')), args: redownload, code: 0, check: async () => expect(await filesIn(join(ws, 'models'))).toEqual(['lora/ok.bin']) },
  {
    name: 'a hostile Content-Disposition',
    setup: () => server.setFile('/cd', { body, contentDisposition: `attachment; filename*=UTF-8''..%2F..%2F..%2Foutside%2Fescape.bin` }),
    args: download('/cd'),
    code: 0,
    check: async () => expect(await filesIn(join(ws, 'dl'))).toEqual(['escape.bin']),
  },
  // --- servers
  { name: 'a redirect loop', setup: () => (server.script('/a', { kind: 'redirect', location: '/b' }), server.script('/b', { kind: 'redirect', location: '/a' })), args: download('/a'), code: 1, message: /\[redirect\] redirect loop/ },
  { name: 'a redirect to file:', setup: () => server.script('/r', { kind: 'redirect', location: 'file:///etc/passwd' }), args: download('/r'), code: 1, message: /\[redirect\] refusing redirect to a file: URL/ },
  { name: 'a redirect to javascript:', setup: () => server.script('/r', { kind: 'redirect', location: 'javascript:alert(1)' }), args: download('/r'), code: 1, message: /\[redirect\]/ },
  {
    name: 'a Content-Length larger than the body (every time)',
    setup: () => server.route('/short', (_req, res) => raw(res, 'Content-Length: 100000\r\nConnection: close', body.subarray(0, 300))),
    args: download('/short'),
    code: 1,
    message: /\[network\]/,
  },
  {
    name: 'a Content-Length smaller than the body',
    setup: () => server.route('/long', (_req, res) => raw(res, 'Content-Length: 100\r\nConnection: close', body.subarray(0, 3000))),
    args: download('/long'),
    code: 0,
    check: async () => expect((await readFile(join(ws, 'dl', 'long'))).length).toBe(100),
  },
  {
    name: 'a body far larger than its 206 says',
    setup: () => server.route('/big', (_req, res) => raw(res, 'Content-Range: bytes 0-99/100\r\nConnection: close', body, '206 Partial Content')),
    args: download('/big'),
    code: 1,
    message: /\[invalid-response\]/,
  },
  {
    name: 'an endless body with no length',
    setup: () =>
      server.route('/endless', (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const chunk = Buffer.alloc(64 * 1024, 7);
        const pump = () => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', pump);
        };
        pump();
      }),
    args: download('/endless', '--max-size', '2MiB'),
    code: 1,
    message: /\[invalid-response\] the body grew past 2\.0 MiB/,
    check: async () => expect(await filesIn(join(ws, 'dl'))).toEqual([]),
  },
  { name: 'a gzip-encoded body', setup: () => server.script('/ok.bin', { kind: 'gzip' }), args: download('/ok.bin'), code: 0, check: async () => expect(sha256(await readFile(join(ws, 'dl', 'ok.bin')))).toBe(sha256(body)) },
  {
    name: 'a corrupt gzip body',
    setup: () => server.route('/badgz', (_req, res) => raw(res, 'Content-Encoding: gzip\r\nContent-Length: 20\r\nConnection: close', Buffer.alloc(20, 1))),
    args: download('/badgz'),
    code: 1,
    message: /\[invalid-response\]/,
  },
  {
    name: 'an invalid Content-Range, always',
    setup: () => server.script('/ok.bin', ...Array.from({ length: 8 }, () => ({ kind: 'bad-content-range', contentRange: 'bytes 5-1/zz' }) as const)),
    args: download('/ok.bin'),
    code: 1,
    message: /\[invalid-response\]/,
  },
  { name: '--output naming a directory', setup: () => mkdir(join(ws, 'somedir')), args: () => ['download', server.url('/ok.bin'), '-o', join(ws, 'somedir'), ...FAST], code: 2, message: /is a directory; use --dir/, check: async () => expect(server.requests).toHaveLength(0) },
  { name: 'an empty --output', args: () => ['download', server.url('/ok.bin'), '-o', '', ...FAST], code: 2, message: /--output needs a file path/ },
  {
    name: 'a server naming its file after dlr\'s run lock',
    setup: () => server.setFile('/lock', { body, headers: { 'content-disposition': 'attachment; filename=".dlr.lock"' } }),
    args: () => ['download', server.url('/lock'), '--dir', join(ws, 'dl'), ...FAST],
    code: 0,
    check: async () => expect(await readdir(join(ws, 'dl'))).toEqual(['_.dlr.lock']),
  },
  { name: 'a 404 with an HTML body', setup: () => server.script('/gone', { kind: 'status', status: 404, body: '<!doctype html><h1>gone</h1>' }), args: download('/gone'), code: 1, message: /\[not-found\] HTTP 404 Not Found$/m },
];

describe('bad-input suite', () => {
  it('has at least 40 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    await c.setup?.();
    const started = Date.now();
    const run = await runCli(c.args(), { cwd: ws, env: { HOME: join(ws, 'home') }, timeoutMs: 20_000 });
    const output = run.stdout + run.stderr;
    expect(run.code, output.slice(0, 2000)).toBe(c.code);
    expect(output).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/);
    expect(output).not.toMatch(/internal error/);
    if (c.message) expect(output).toMatch(c.message);
    if (c.code === 2) expect(run.stderr.trim().split('\n')).toHaveLength(1);
    if (c.failure) expect(await readFile(join(ws, 'failures.csv'), 'utf8')).toContain(`,${c.failure},`);
    await c.check?.();
    expect(await readdir(outside)).toEqual([]);
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});

/**
 * The scaling dimension: each hostile input at 1x, 10x and 1000x its size.
 * Work on untrusted input is linear and capped, so an input past a cap is
 * refused (`invalid-row`) or ignored before any work that grows with it, and
 * below the caps the work per byte is tiny. Every size then costs about what
 * the 1x run costs: a process start, a config, at most one small download.
 *
 * The bound: the 10x and 1000x runs finish within 5 times the 1x run plus
 * 3 s. That is loose for a loaded 2-core machine (the 1x runs take about
 * 0.3–0.6 s there) and far too tight for the class of bug it guards:
 * shortening a name one character at a time, re-splitting it each time,
 * took 1.1 s at 10k characters, 12.6 s at 30k and never finished at 1 MB.
 * Many rows is the one input whose work must grow (each row is planned):
 * its bound is the P4 goal's, a 100,000-row history planned in seconds.
 */
interface ScaledCase {
  readonly name: string;
  /** The input's size at 1x (characters, or rows). */
  readonly unit: number;
  readonly setup: (size: number) => Promise<void> | void;
  readonly args: () => string[];
  /** The right code and message for this size. */
  readonly outcome: (size: number, run: CliRun) => Promise<void> | void;
}

const SCALES = [1, 10, 1000] as const;

/** A fresh workspace for the next size: nothing a previous size saved or reported may answer for it. */
async function resetWorkspace() {
  await rm(ws, { recursive: true, force: true });
  await mkdir(join(ws, 'home'), { recursive: true });
  await writeConfig({});
}

async function expectInvalidRow(run: CliRun, message: RegExp) {
  expect(run.code, run.stderr.slice(0, 2000)).toBe(1);
  expect(run.stderr).toMatch(message);
  const failures = await readFile(join(ws, 'failures.csv'), 'utf8');
  expect(failures).toContain(',invalid-row,');
  expect(failures).toMatch(message);
}

async function expectSaved(run: CliRun, dir: string, suffix: string) {
  expect(run.code, run.stderr.slice(0, 2000)).toBe(0);
  const saved = await readdir(join(ws, dir));
  expect(saved).toHaveLength(1);
  expect(saved[0]!.endsWith(suffix)).toBe(true);
  expect(Buffer.byteLength(saved[0]!)).toBeLessThanOrEqual(245);
  expect(sha256(await readFile(join(ws, dir, saved[0]!)))).toBe(sha256(body));
}

const scaled: ScaledCase[] = [
  {
    name: 'a long file name in a row',
    unit: 50,
    setup: (size) => rows(row(server.url('/ok.bin'), `${'n'.repeat(size)}.safetensors`)),
    args: redownload,
    // 50 and 500 characters: cut to 245 bytes, extension kept. 50,000: past the 4 KiB field cap.
    outcome: (size, run) => (size < 4096 ? expectSaved(run, 'models/lora', '.safetensors') : expectInvalidRow(run, /line 2: the filename is longer than 4096 characters/)),
  },
  {
    name: 'a long URL in a row',
    unit: 50,
    setup: (size) => rows(row(`${server.url('/ok.bin')}?q=${'u'.repeat(size)}`, 'ok.bin')),
    args: redownload,
    outcome: (size, run) => (size < 8192 ? expectSaved(run, 'models/lora', 'ok.bin') : expectInvalidRow(run, /line 2: the URL is longer than 8192 characters/)),
  },
  {
    name: 'a huge quoted field (commas, escaped quotes) in a row',
    unit: 100,
    setup: (size) => writeHistory(`timestamp,model_type,url,filename,note\nt,lora,${server.url('/ok.bin')},ok.bin,"${'x,""'.repeat(size / 4)}"\n`),
    args: redownload,
    outcome: (size, run) => (size < 65_536 ? expectSaved(run, 'models/lora', 'ok.bin') : expectInvalidRow(run, /line 2: the row is longer than 65536 characters/)),
  },
  {
    name: 'a long Content-Disposition name from a server',
    unit: 40,
    setup: (size) => server.setFile('/cd', { body, contentDisposition: `attachment; filename="${'c'.repeat(size)}.bin"` }),
    args: download('/cd'),
    // 40 and 400 characters: the server's name, cut to 245 bytes. 40,000: a header past
    // MAX_CONTENT_DISPOSITION_CHARS names nothing, and the URL names the file.
    outcome: (size, run) => expectSaved(run, 'dl', size < MAX_CONTENT_DISPOSITION_CHARS ? '.bin' : 'cd'),
  },
  {
    name: 'long header values from a server (ETag, an unknown header)',
    unit: 40,
    setup: (size) => server.setFile('/h', { body, etag: `"${'e'.repeat(size)}"`, headers: { 'x-filler': 'f'.repeat(size) } }),
    args: download('/h'),
    outcome: (_size, run) => expectSaved(run, 'dl', 'h'),
  },
  {
    name: 'a long redirect Location',
    unit: 10,
    setup: (size) => server.script('/r', { kind: 'redirect', location: `/ok.bin?pad=${'l'.repeat(size)}` }),
    args: download('/r'),
    // Named after the URL asked for, as without a redirect.
    outcome: (_size, run) => expectSaved(run, 'dl', 'r'),
  },
  {
    name: 'many rows',
    unit: 100,
    setup: (size) => rows(...Array.from({ length: size }, (_, i) => row(`http://127.0.0.1:9/m/${i}`, `m${i}.bin`))),
    args: () => ['history'],
    outcome: (size, run) => {
      expect(run.code, run.stderr.slice(0, 2000)).toBe(0);
      const [header, ...lines] = run.stdout.trimEnd().split('\n');
      expect(header).toBe('#\ttype\tstate\tsize\tpath\turl');
      expect(lines).toHaveLength(size);
      expect(lines.at(-1)).toMatch(new RegExp(`^${size}\tlora\tfetch\t.*m${size - 1}\.bin\t`));
    },
  },
];

describe('bad-input suite: a signal during a long read', () => {
  // Reading and planning yield to the event loop every ~20 ms and check the
  // signal, so the handler runs and the run ends well within 2 s of it;
  // before, one synchronous parse held the signal off until it was done.
  it('ends a run over a 500,000-row history within 2 s of SIGINT, with exit 130', async () => {
    await writeHistory(['timestamp,model_type,url,filename', ...Array.from({ length: 500_000 }, (_, i) => row(`http://127.0.0.1:9/m/${i}`, `m${i}.bin`))].join('\n'));
    let signalledAt = 0;
    const run = await runCli(['history', '--json'], {
      cwd: ws,
      env: { HOME: join(ws, 'home') },
      timeoutMs: 30_000,
      onSpawn: (child) => {
        setTimeout(() => {
          signalledAt = performance.now();
          child.kill('SIGINT');
        }, 500);
      },
    });
    const stopped = (performance.now() - signalledAt) / 1000;
    expect(signalledAt).toBeGreaterThan(0);
    expect(run.code, run.stderr).toBe(130);
    expect(run.stderr).toMatch(/SIGINT: stopping/);
    expect(run.stdout).toBe('');
    expect(stopped).toBeLessThan(2);
  }, 60_000);
});

describe('bad-input suite: 1x, 10x and 1000x', () => {
  it.each(scaled.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const seconds: number[] = [];
    for (const scale of SCALES) {
      await resetWorkspace();
      const size = c.unit * scale;
      await c.setup(size);
      const started = performance.now();
      const run = await runCli(c.args(), { cwd: ws, env: { HOME: join(ws, 'home') }, timeoutMs: 30_000 });
      seconds.push((performance.now() - started) / 1000);
      const output = run.stdout + run.stderr;
      expect(output).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/);
      expect(output).not.toMatch(/internal error/);
      await c.outcome(size, run);
      expect(await readdir(outside)).toEqual([]);
    }
    const [one, ten, thousand] = seconds as [number, number, number];
    console.log(`${c.name}: 1x ${one.toFixed(2)} s, 10x ${ten.toFixed(2)} s, 1000x ${thousand.toFixed(2)} s`);
    // Many rows must grow, linearly: 100k rows take ~1.5 s idle and 10 s was seen on a loaded CI
    // machine; a quadratic plan or listing would take hours at 100k, far past this bound.
    const bound = c.name === 'many rows' ? 25 : 5 * one + 3;
    expect(ten, `1x ${one.toFixed(2)} s, 10x ${ten.toFixed(2)} s`).toBeLessThan(bound);
    expect(thousand, `1x ${one.toFixed(2)} s, 1000x ${thousand.toFixed(2)} s`).toBeLessThan(bound);
  }, 120_000);
});
