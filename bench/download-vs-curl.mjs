// Benchmark: `dlr download` against `curl` fetching the same file from a local
// HTTP server. Run with `npm run bench` (which then runs the 100k-row history
// bench, bench/history-100k.mjs; BENCH_CASE=download or BENCH_CASE=history runs one).
//
// Environment:
//   BENCH_SIZE_MIB   size of the test file in MiB (default 1024)
//   BENCH_ROUNDS     rounds of "dlr then curl" (default 3)
//   BENCH_WARMUP     unmeasured rounds first (default 1): the server's JIT and
//                    the page cache settle before anything is timed
//   BENCH_DLR_ARGS   extra arguments for dlr, split on whitespace (no quoting)
//   BENCH_FLOOR=1    also time two floors each round: undici alone receiving
//                    the body and dropping it (bench/undici-floor.mjs), and
//                    curl writing to /dev/null (the network part of curl's run)
//
// How each run is measured (Linux only):
//   - Wall time: our own clock from spawn to exit, the same in both modes.
//   - With GNU time at /usr/bin/time: CPU = %U + %S and peak RSS = %M, i.e. the
//     kernel's exact rusage of the measured process. Stats go to a file (-o)
//     so the tool's own stderr passes through untouched.
//   - Without it: CPU is the growth of this process's cutime + cstime in
//     /proc/self/stat, which the kernel adds when we reap the child, so it is
//     exact (to the clock tick) as long as no other child of ours exits
//     meanwhile; the server child lives for the whole run. Peak RSS is the
//     child's VmHWM from /proc/<pid>/status polled every 20 ms. VmHWM is a
//     high-water mark, so polling only misses growth in the last interval
//     before exit: a lower bound, close in practice.
// The server runs in its own process so its CPU and memory are not counted.
//
// Note: dlr fsyncs the finished file (and its directory) before renaming it,
// curl does not; that cost is part of dlr's wall time here.

import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, rmSync } from 'node:fs';
import { access, constants, mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const MIB = 1024 * 1024;
const BLOCK_BYTES = 16 * MIB;
const RSS_POLL_MS = 20;
const GNU_TIME = '/usr/bin/time';

// Runs with plain `node -e`, so CommonJS. Argument: the file to serve. Prints
// the port once listening. Exits when its stdin closes, so it cannot outlive
// the benchmark even if the benchmark is killed.
const SERVER_SOURCE = `
const http = require('node:http');
const fs = require('node:fs');
const file = process.argv[1];
const { size, mtimeMs } = fs.statSync(file);
const etag = '"' + size.toString(16) + '-' + Math.floor(mtimeMs).toString(16) + '"';
const server = http.createServer((req, res) => {
  if (req.url !== '/bench.bin') {
    res.writeHead(404).end();
    return;
  }
  let start = 0;
  const range = /^bytes=(\\d+)-$/.exec(req.headers.range ?? '');
  const ifRange = req.headers['if-range'];
  if (range && (ifRange === undefined || ifRange === etag)) {
    start = Number(range[1]);
    if (start >= size) {
      res.writeHead(416, { 'Content-Range': 'bytes */' + size }).end();
      return;
    }
  }
  const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': size - start, ETag: etag, 'Accept-Ranges': 'bytes' };
  if (start > 0) headers['Content-Range'] = 'bytes ' + start + '-' + (size - 1) + '/' + size;
  res.writeHead(start > 0 ? 206 : 200, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  // 1 MiB reads instead of the 64 KiB default keep the server's CPU share low
  // on small machines, so the client is what gets measured.
  fs.createReadStream(file, { start, highWaterMark: 1024 * 1024 }).pipe(res);
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`;

let workDir;
let server;
const running = new Set();

function positiveIntEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got '${raw}'`);
  return value;
}

function nonNegativeIntEnv(name, fallback) {
  const raw = process.env[name];
  return raw === '0' ? 0 : positiveIntEnv(name, fallback);
}

/** Synchronous so it also works from a signal handler right before exit. */
function cleanup() {
  for (const child of running) {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      // the group is already gone
    }
  }
  server?.kill('SIGTERM');
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
}

/** Random blocks, each with its index stamped at the front so no two blocks are equal. */
async function generateFile(path, bytes) {
  const block = randomBytes(BLOCK_BYTES);
  const hash = createHash('sha256');
  const handle = await open(path, 'w');
  try {
    for (let offset = 0, index = 0; offset < bytes; offset += BLOCK_BYTES, index++) {
      block.writeBigUInt64BE(BigInt(index), 0);
      const chunk = block.subarray(0, Math.min(BLOCK_BYTES, bytes - offset));
      hash.update(chunk);
      await handle.write(chunk);
    }
    // Written back now, so the kernel's writeback of the source does not
    // compete with whichever tool happens to run first.
    await handle.sync();
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

async function sha256File(path) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: MIB })) hash.update(chunk);
  return hash.digest('hex');
}

async function startServer(file) {
  server = spawn(process.execPath, ['-e', SERVER_SOURCE, file], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    server.stdout.setEncoding('utf8');
    server.stdout.on('data', (text) => {
      out += text;
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    server.once('error', reject);
    server.once('exit', (code, signal) => reject(new Error(`server exited early (${signal ?? code})`)));
  });
  return `http://127.0.0.1:${port}/bench.bin`;
}

function gnuTimeUsable() {
  // -f and -o are GNU extensions; a BSD or busybox `time` would fail this probe.
  return spawnSync(GNU_TIME, ['-f', '%M', '-o', '/dev/null', 'true'], { stdio: 'ignore' }).status === 0;
}

/** Clock ticks of CPU used by all reaped children of this process so far (cutime + cstime). */
async function childrenCpuTicks() {
  const stat = await readFile('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state) of proc(5).
  return Number(fields[13]) + Number(fields[14]);
}

async function vmHwmKiB(pid) {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
    return match ? Number(match[1]) : 0;
  } catch {
    return 0; // already gone
  }
}

/**
 * In its own process group, so cleanup can signal the whole group: GNU time
 * does not pass signals on to the command it measures.
 */
function spawnMeasured(command, args) {
  return spawn(command, args, { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'], detached: true });
}

function waitForExit(child, label) {
  running.add(child);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      running.delete(child);
      if (code === 0) resolve();
      else reject(new Error(`${label} failed (${signal ?? `exit code ${code}`})`));
    });
  });
}

function makeMeasurer(useGnuTime, statsFile) {
  if (useGnuTime) {
    return async (label, command, args) => {
      const started = performance.now();
      const child = spawnMeasured(GNU_TIME, ['-f', '%U %S %M', '-o', statsFile, command, ...args]);
      await waitForExit(child, label);
      const wall = (performance.now() - started) / 1000;
      // Last line: GNU time puts a "Command exited with non-zero status" line first on failure.
      const [user, sys, maxRssKiB] = (await readFile(statsFile, 'utf8')).trim().split('\n').at(-1).split(' ').map(Number);
      return { wall, cpu: user + sys, rssMiB: maxRssKiB / 1024 };
    };
  }
  const clockTicks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;
  return async (label, command, args) => {
    const cpuBefore = await childrenCpuTicks();
    const started = performance.now();
    const child = spawnMeasured(command, args);
    let peakKiB = 0;
    const poll = async () => {
      peakKiB = Math.max(peakKiB, await vmHwmKiB(child.pid));
    };
    const timer = setInterval(poll, RSS_POLL_MS);
    await poll();
    try {
      await waitForExit(child, label);
    } finally {
      clearInterval(timer);
    }
    const wall = (performance.now() - started) / 1000;
    const cpu = ((await childrenCpuTicks()) - cpuBefore) / clockTicks;
    return { wall, cpu, rssMiB: peakKiB / 1024 };
  };
}

async function verifyOutput(label, path, expectedBytes, expectedSha256) {
  const { size } = await stat(path);
  if (size !== expectedBytes) throw new Error(`${label}: output has ${size} bytes, expected ${expectedBytes}`);
  if (expectedSha256 !== undefined) {
    const actual = await sha256File(path);
    if (actual !== expectedSha256) throw new Error(`${label}: sha256 ${actual} does not match source ${expectedSha256}`);
  }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function printTable(header, rows) {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i].length)));
  const line = (cells) => cells.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

async function main() {
  const sizeMiB = positiveIntEnv('BENCH_SIZE_MIB', 1024);
  const rounds = positiveIntEnv('BENCH_ROUNDS', 3);
  const warmup = nonNegativeIntEnv('BENCH_WARMUP', 1);
  const dlrExtraArgs = (process.env.BENCH_DLR_ARGS ?? '').split(/\s+/).filter(Boolean);
  await access(join(REPO_ROOT, 'dist', 'cli', 'main.js')).catch(() => {
    throw new Error('dist/ is missing: run `npm run build` first (or use `npm run bench`)');
  });
  if (spawnSync('curl', ['--version'], { stdio: 'ignore' }).status !== 0) throw new Error('curl is not installed');
  const useGnuTime = await access(GNU_TIME, constants.X_OK).then(gnuTimeUsable, () => false);
  if (!useGnuTime) await access('/proc/self/stat').catch(() => {
    throw new Error(`neither ${GNU_TIME} (GNU time) nor /proc is available to measure CPU and memory`);
  });

  workDir = await mkdtemp(join(tmpdir(), 'dlr-bench-'));
  const source = join(workDir, 'source.bin');
  const outputs = { dlr: join(workDir, 'dlr.out'), curl: join(workDir, 'curl.out') };
  const sizeBytes = sizeMiB * MIB;

  console.log(`generating ${sizeMiB} MiB test file in ${workDir} ...`);
  const sourceSha256 = await generateFile(source, sizeBytes);
  const url = await startServer(source);
  const measure = makeMeasurer(useGnuTime, join(workDir, 'time.txt'));
  const commands = {
    dlr: [process.execPath, ['bin/dlr.js', 'download', url, '-o', outputs.dlr, '--force', '--quiet', ...dlrExtraArgs]],
    curl: ['curl', ['-sS', '-o', outputs.curl, url]],
  };
  const floors = process.env.BENCH_FLOOR === '1';
  if (floors) {
    commands['undici-floor'] = [process.execPath, ['bench/undici-floor.mjs', url]];
    commands['curl-null'] = ['curl', ['-sS', '-o', '/dev/null', url]];
  }
  const tools = Object.keys(commands);
  console.log(`serving ${url}; measuring with ${useGnuTime ? GNU_TIME : '/proc polling'}`);
  console.log(`dlr: node ${commands.dlr[1].join(' ')}`);
  console.log(`curl: curl ${commands.curl[1].join(' ')}\n`);

  const results = Object.fromEntries(tools.map((tool) => [tool, []]));
  for (let round = 1 - warmup; round <= rounds; round++) {
    for (const tool of tools) {
      const [command, args] = commands[tool];
      const measured = await measure(tool, command, args);
      if (round >= 1) results[tool].push(measured);
      if (outputs[tool] === undefined) continue;
      await verifyOutput(tool, outputs[tool], sizeBytes, tool === 'dlr' && round === 1 ? sourceSha256 : undefined);
      await rm(outputs[tool], { force: true });
    }
  }

  const fmt = (n) => n.toFixed(2);
  const rows = [];
  for (let round = 0; round < rounds; round++) {
    for (const tool of tools) {
      const { wall, cpu, rssMiB } = results[tool][round];
      rows.push([String(round + 1), tool, fmt(wall), fmt(cpu), fmt(rssMiB)]);
    }
  }
  const medians = {};
  for (const tool of tools) {
    medians[tool] = Object.fromEntries(['wall', 'cpu', 'rssMiB'].map((key) => [key, median(results[tool].map((r) => r[key]))]));
    rows.push(['median', tool, fmt(medians[tool].wall), fmt(medians[tool].cpu), fmt(medians[tool].rssMiB)]);
  }
  printTable(['round', 'tool', 'wall s', 'CPU s', 'peak RSS MiB'], rows);

  const wallRatio = medians.dlr.wall / medians.curl.wall;
  const cpuRatio = medians.dlr.cpu / medians.curl.cpu;
  const dlrPeakMiB = Math.max(...results.dlr.map((r) => r.rssMiB));
  const throughput = (tool) => (sizeMiB / medians[tool].wall).toFixed(0);
  console.log(`\nthroughput (median): dlr ${throughput('dlr')} MiB/s, curl ${throughput('curl')} MiB/s`);
  console.log(`ratio dlr/curl (medians): wall ${wallRatio.toFixed(2)}, CPU ${cpuRatio.toFixed(2)}`);
  if (floors) {
    const floorRatio = medians['undici-floor'].wall / medians.curl.wall;
    console.log(`ratio undici-floor/curl (medians): wall ${floorRatio.toFixed(2)} (undici receiving and dropping the body, no disk)`);
  }
  console.log(`wall ratio <= 1.10: ${wallRatio <= 1.1 ? 'PASS' : 'FAIL'} (${wallRatio.toFixed(2)})`);
  console.log(`dlr peak RSS < 100 MiB: ${dlrPeakMiB < 100 ? 'PASS' : 'FAIL'} (max over rounds ${dlrPeakMiB.toFixed(1)} MiB)`);
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    cleanup();
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  });
}

// BENCH_CASE: `download` (this file's bench), `history` (bench/history-100k.mjs: a
// 100,000-row history, all present), `many` (bench/many-files.mjs: 200 small
// files, dlr -j 8 against wget -i and curl -Z), `segmented` (bench/segmented.mjs:
// 1 GiB at 20 MiB/s per connection, dlr -x 8 against aria2c -x8 -s8), or unset
// for all, in that order.
const benchCase = process.env.BENCH_CASE ?? 'all';
const CASES = ['download', 'history', 'many', 'segmented'];
try {
  if (benchCase !== 'all' && !CASES.includes(benchCase)) throw new Error(`BENCH_CASE must be one of ${CASES.join(', ')}, got ${JSON.stringify(benchCase)}`);
  const wanted = (name) => benchCase === 'all' || benchCase === name;
  if (wanted('download')) await main();
  if (wanted('history')) await (await import('./history-100k.mjs')).runHistoryBench();
  if (wanted('many')) await (await import('./many-files.mjs')).runManyFilesBench();
  if (wanted('segmented')) await (await import('./segmented.mjs')).runSegmentedBench();
} catch (error) {
  console.error(`bench failed: ${error.message}`);
  process.exitCode = 1;
} finally {
  cleanup();
}
