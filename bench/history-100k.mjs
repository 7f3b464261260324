// Benchmark (P4): a 100,000-row history whose files are all present. The
// nightly run over it is pure planning and skipping: read the CSV, dedupe and
// sort, check every file, print, summarize. Goals: `dlr redownload all` in at
// most 2 s with peak RSS at most 200 MiB, `dlr history` in at most 2 s, and a
// SIGTERM in the middle of such a run ends it within 2 s.
//
// Run with `npm run bench` (after the download bench) or alone:
//   BENCH_CASE=history npm run bench      or      node bench/history-100k.mjs
// (build first: `npm run build`).
//
// Environment:
//   BENCH_ROWS     rows (and present files) in the history (default 100000)
//   BENCH_ROUNDS   measured runs of each command (default 3)
//   BENCH_KEEP=1   keep the workspace (printed) instead of deleting it
//
// Each command runs under GNU time (/usr/bin/time -f '%e %U %S %M'): wall,
// CPU (user + system) and peak RSS are the kernel's figures for the dlr
// process. Without GNU time, only our own wall clock is shown. The plain log
// goes to a file, as under cron; `history`'s listing to /dev/null.
// Wall time on a shared machine includes waiting for a core: compare CPU
// with wall to see how loaded the machine was.

import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const DLR = fileURLToPath(new URL('../bin/dlr.js', import.meta.url));
const GNU_TIME = '/usr/bin/time';
const FOLDERS = { checkpoint: 'models/ckpt', lora: 'models/lora', embedding: 'models/emb', other: 'models/other' };
const TYPES = ['lora', 'checkpoint', 'embedding', 'vae'];
const GOAL_SECONDS = 2;
const GOAL_RSS_MIB = 200;

function positiveIntEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return value;
}

/** A workspace as a user has it: a config, the history, and every file of it already downloaded (empty files will do). */
function makeWorkspace(root, rows) {
  for (const dir of Object.values(FOLDERS)) mkdirSync(join(root, dir), { recursive: true });
  mkdirSync(join(root, 'home'));
  writeFileSync(
    join(root, 'dlr.config.json'),
    JSON.stringify({ download_paths: { ...FOLDERS, default: FOLDERS.other }, history_file: 'history.csv', rate_limit_settings: { sleep_between_downloads: 0 } }),
  );
  const lines = ['timestamp,model_type,url,filename'];
  for (let i = 0; i < rows; i++) {
    const type = TYPES[i % TYPES.length];
    const name = `model-${i}.safetensors`;
    // Civitai's download URL form; port 9 (discard) is never asked: every file is present.
    lines.push(`2024-10-24 10:00:00,${type},http://127.0.0.1:9/api/download/models/${i},${name}`);
    closeSync(openSync(join(root, FOLDERS[type] ?? FOLDERS.other, name), 'w'));
  }
  writeFileSync(join(root, 'history.csv'), `${lines.join('\n')}\n`);
}

function gnuTimeUsable() {
  return spawnSync(GNU_TIME, ['-f', '%M', '-o', '/dev/null', 'true'], { stdio: 'ignore' }).status === 0;
}

/**
 * Runs dlr with `args` in the workspace; `signalAfterMs` sends SIGTERM that
 * long after the start and measures how long the process takes to end.
 */
async function measure(root, args, { useGnuTime, signalAfterMs } = {}) {
  const stats = join(root, 'time.txt');
  const out = openSync(args[0] === 'history' ? '/dev/null' : join(root, 'stdout.log'), 'w');
  const log = openSync(join(root, 'dlr.log'), 'w');
  const [command, argv] = useGnuTime ? [GNU_TIME, ['-f', '%e %U %S %M', '-o', stats, process.execPath, DLR, ...args]] : [process.execPath, [DLR, ...args]];
  const started = performance.now();
  const child = spawn(command, argv, { cwd: root, env: { ...process.env, HOME: join(root, 'home') }, stdio: ['ignore', out, log] });
  let signalledAt;
  const timer =
    signalAfterMs === undefined
      ? undefined
      : setTimeout(() => {
          signalledAt = performance.now();
          // GNU time does not pass signals on: signal dlr, its child, by pid.
          if (useGnuTime) for (const pid of childPids(child.pid)) process.kill(pid, 'SIGTERM');
          else child.kill('SIGTERM');
        }, signalAfterMs);
  const code = await new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (exitCode) => resolve(exitCode));
  });
  const ended = performance.now();
  clearTimeout(timer);
  closeSync(out);
  closeSync(log);
  const result = { code, wall: (ended - started) / 1000, stopSeconds: signalledAt === undefined ? undefined : (ended - signalledAt) / 1000 };
  if (!useGnuTime) return result;
  const [, user, sys, maxRssKiB] = (await readFile(stats, 'utf8')).trim().split('\n').at(-1).split(' ').map(Number);
  return { ...result, cpu: user + sys, rssMiB: maxRssKiB / 1024 };
}

function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export async function runHistoryBench() {
  const rows = positiveIntEnv('BENCH_ROWS', 100_000);
  const rounds = positiveIntEnv('BENCH_ROUNDS', 3);
  const useGnuTime = gnuTimeUsable();
  const root = await mkdtemp(join(tmpdir(), 'dlr-bench-history-'));
  try {
    console.log(`history bench: ${rows} rows, all files present, ${rounds} rounds${useGnuTime ? '' : ' (no GNU time: wall only)'}`);
    const madeAt = performance.now();
    makeWorkspace(root, rows);
    console.log(`workspace ${root} made in ${((performance.now() - madeAt) / 1000).toFixed(1)} s`);
    const commands = [
      ['redownload all (plain log)', ['redownload', 'all', '--yes']],
      ['redownload all --quiet', ['redownload', 'all', '--yes', '--quiet']],
      ['history', ['history']],
    ];
    const table = [];
    let pass = true;
    for (const [label, args] of commands) {
      const runs = [];
      for (let round = 0; round < rounds; round++) {
        const run = await measure(root, args, { useGnuTime });
        if (run.code !== 0) throw new Error(`${label} exited ${run.code}; see ${join(root, 'dlr.log')}`);
        runs.push(run);
      }
      const wall = median(runs.map((r) => r.wall));
      const cpu = useGnuTime ? median(runs.map((r) => r.cpu)) : undefined;
      const rss = useGnuTime ? Math.max(...runs.map((r) => r.rssMiB)) : undefined;
      const ok = wall <= GOAL_SECONDS && (rss === undefined || rss <= GOAL_RSS_MIB);
      pass &&= ok;
      table.push([label, wall.toFixed(2), cpu?.toFixed(2) ?? '-', rss?.toFixed(0) ?? '-', ok ? 'PASS' : 'FAIL']);
    }
    // A stop in the middle: the run is reading, planning or skipping when SIGTERM comes.
    const stops = [];
    for (let round = 0; round < rounds; round++) stops.push(await measure(root, ['redownload', 'all', '--yes'], { useGnuTime, signalAfterMs: 400 }));
    const stop = Math.max(...stops.map((r) => r.stopSeconds ?? Number.POSITIVE_INFINITY));
    const stopOk = stop <= GOAL_SECONDS;
    pass &&= stopOk;

    const header = ['command', 'wall s (median)', 'cpu s (median)', 'peak RSS MiB (max)', `goal <= ${GOAL_SECONDS} s, <= ${GOAL_RSS_MIB} MiB`];
    const widths = header.map((title, i) => Math.max(title.length, ...table.map((row) => row[i].length)));
    const line = (cells) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
    console.log(line(header));
    console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const row of table) console.log(line(row));
    console.log(`SIGTERM 0.4 s into redownload all: ended ${stop.toFixed(2)} s later (max of ${rounds}; exit ${stops.map((r) => r.code).join(', ')}): ${stopOk ? 'PASS' : 'FAIL'}`);
    console.log(`history bench: ${pass ? 'PASS' : 'FAIL'}`);
  } finally {
    if (process.env.BENCH_KEEP === '1') console.log(`kept ${root}`);
    else await rm(root, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    await runHistoryBench();
  } catch (error) {
    console.error(`bench failed: ${error.message}`);
    process.exitCode = 1;
  }
}
