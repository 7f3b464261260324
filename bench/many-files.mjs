// Benchmark (issue 11): many small files. 200 files of 256 KiB from a local
// server, fetched by `dlr redownload all -j 8` against `wget -i` (one after
// another; wget has no parallel mode) and `curl -Z --parallel-max 8`,
// alternated round by round, with the wall-time ratio printed. Goal: dlr at
// or below wget's wall time.
//
// Run with `npm run bench` (after the download and history benches) or alone:
//   BENCH_CASE=many npm run bench      or      node bench/many-files.mjs
// (build first: `npm run build`).
//
// Environment:
//   BENCH_FILES    files (default 200)       BENCH_FILE_KIB  size of each (default 256)
//   BENCH_JOBS     dlr's -j and curl's --parallel-max (default 8)
//   BENCH_ROUNDS   measured rounds (default 3), after one unmeasured warm-up round
//
// The server is nginx (sendfile, keep-alive) started on a free loopback port
// with its own config when it is installed, else a node:http server in its
// own process; either way its CPU is not counted. dlr runs with the plain log
// to a file and `--sleep 0`; every tool writes into an emptied folder. dlr
// fsyncs each file and its folder before the rename (its atomic-completion
// promise); wget and curl do not. Peak RSS of dlr comes from GNU time.

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startNginx, waitForPort, which } from './local-servers.mjs';

const DLR = fileURLToPath(new URL('../bin/dlr.js', import.meta.url));
const GNU_TIME = '/usr/bin/time';

function intEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive whole number, got ${JSON.stringify(raw)}`);
  return n;
}

const FILES = intEnv('BENCH_FILES', 200);
const FILE_KIB = intEnv('BENCH_FILE_KIB', 256);
const JOBS = intEnv('BENCH_JOBS', 8);
const ROUNDS = intEnv('BENCH_ROUNDS', 3);

async function startServer(root) {
  const nginx = await startNginx(root);
  if (nginx) return { ...nginx, name: 'nginx' };
  const port = await freePort();
  const source = `
    const http = require('node:http'); const fs = require('node:fs'); const path = require('node:path');
    const root = process.argv[1];
    http.createServer((req, res) => {
      const file = path.join(root, path.basename(req.url));
      fs.stat(file, (err, st) => {
        if (err) return res.writeHead(404).end();
        res.writeHead(200, { 'content-length': st.size, 'last-modified': st.mtime.toUTCString() });
        fs.createReadStream(file).pipe(res);
      });
    }).listen(${port}, '127.0.0.1');
    process.stdin.resume(); process.stdin.on('end', () => process.exit(0));`;
  const child = spawn(process.execPath, ['-e', source, join(root, 'www')], { stdio: ['pipe', 'ignore', 'inherit'] });
  await waitForPort(port);
  return { origin: `http://127.0.0.1:${port}`, name: 'node:http', stop: () => child.kill('SIGTERM') };
}

/** Runs a command, returning wall seconds (our clock) and, under GNU time, peak RSS in MiB. */
async function timed(argv, { cwd, stdout = 'ignore' } = {}) {
  const statsFile = join(tmpdir(), `dlr-bench-time-${process.pid}.txt`);
  const useTime = existsSync(GNU_TIME);
  const [file, ...args] = useTime ? [GNU_TIME, '-o', statsFile, '-f', '%M', ...argv] : argv;
  const started = performance.now();
  const code = await new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd, stdio: ['ignore', stdout, 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (c) => (c === 0 ? resolve(c) : reject(new Error(`${argv.join(' ').slice(0, 80)} exited ${c}: ${err.slice(-400)}`))));
  });
  const wall = (performance.now() - started) / 1000;
  const rss = useTime ? Number((await readFile(statsFile, 'utf8')).trim().split('\n').pop()) / 1024 : undefined;
  return { code, wall, rss };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function runManyFilesBench() {
  const root = await mkdtemp(join(tmpdir(), 'dlr-bench-many-'));
  const www = join(root, 'www');
  mkdirSync(www);
  const body = randomBytes(FILE_KIB * 1024);
  const names = Array.from({ length: FILES }, (_, i) => `m${String(i).padStart(4, '0')}.safetensors`);
  for (const name of names) writeFileSync(join(www, name), body);
  const server = await startServer(root);
  try {
    const urls = names.map((n) => `${server.origin}/${n}`);
    writeFileSync(join(root, 'urls.txt'), `${urls.join('\n')}\n`);
    writeFileSync(join(root, 'history.csv'), `timestamp,model_type,url,filename\n${names.map((n, i) => `,lora,${urls[i]},${n}`).join('\n')}\n`);
    writeFileSync(join(root, 'dlr.config.json'), JSON.stringify({ download_paths: { lora: 'out-dlr', default: 'out-dlr' }, history_file: 'history.csv' }));
    const wget = which('wget');
    const curl = which('curl');
    const tools = [
      { name: `dlr -j ${JOBS}`, dir: 'out-dlr', argv: [process.execPath, DLR, 'redownload', 'all', '--yes', '--sleep', '0', '-j', String(JOBS), '--quiet'] },
      ...(wget ? [{ name: 'wget -i', dir: 'out-wget', argv: [wget, '-q', '-i', 'urls.txt', '-P', 'out-wget'] }] : []),
      ...(curl ? [{ name: `curl -Z ${JOBS}`, dir: 'out-curl', argv: [curl, '-s', '-Z', '--parallel-max', String(JOBS), '--output-dir', 'out-curl', '--remote-name-all', ...urls] }] : []),
    ];
    console.log(`many-files bench: ${FILES} x ${FILE_KIB} KiB from ${server.name}, ${ROUNDS} rounds after a warm-up, alternated`);
    const results = new Map(tools.map((t) => [t.name, { wall: [], rss: [] }]));
    for (let round = 0; round <= ROUNDS; round++) {
      for (const tool of tools) {
        rmSync(join(root, tool.dir), { recursive: true, force: true });
        mkdirSync(join(root, tool.dir));
        const r = await timed(tool.argv, { cwd: root });
        if (round === 0) continue;
        results.get(tool.name).wall.push(r.wall);
        if (r.rss !== undefined) results.get(tool.name).rss.push(r.rss);
      }
    }
    const wgetWall = results.get('wget -i') ? median(results.get('wget -i').wall) : undefined;
    console.log('tool            wall s (median)  rounds                  peak RSS MiB (max)  wall / wget');
    for (const tool of tools) {
      const { wall, rss } = results.get(tool.name);
      const m = median(wall);
      console.log(
        `${tool.name.padEnd(16)}${m.toFixed(2).padStart(15)}  ${wall.map((w) => w.toFixed(2)).join(' ').padEnd(22)}  ${(rss.length ? Math.max(...rss).toFixed(0) : '-').padStart(18)}  ${wgetWall ? (m / wgetWall).toFixed(2) : '-'}`,
      );
    }
    if (wgetWall !== undefined) {
      const dlrWall = median(results.get(tools[0].name).wall);
      console.log(`goal dlr <= wget: ${dlrWall <= wgetWall ? 'MET' : 'NOT MET'} (${(dlrWall / wgetWall).toFixed(2)}x)`);
    }
  } finally {
    server.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runManyFilesBench().catch((error) => {
    console.error(`bench failed: ${error.message}`);
    process.exitCode = 1;
  });
}
