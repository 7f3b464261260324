// Benchmark: one large file over several connections, each capped by the
// server, as a CDN caps them. dlr `-x 8` against `aria2c -x8 -s8`, alternated.
//
//   BENCH_CASE=segmented npm run bench      or      node bench/segmented.mjs
//
// The server is nginx with `limit_rate` per connection (started on a free
// loopback port with its own config in a temp dir); without nginx, a
// node:http server that throttles each answer. Environment:
//   BENCH_SIZE_MIB    file size (default 1024)
//   BENCH_RATE_MIB    per-connection cap in MiB/s (default 20)
//   BENCH_ROUNDS      rounds of "dlr then aria2c" (default 2)
//   BENCH_DLR_ARGS    extra dlr arguments, split on whitespace
// Wall time is our own clock from spawn to exit; peak RSS is GNU time's %M.

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, open, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startNginx, waitForPort, which } from './local-servers.mjs';

const DLR = fileURLToPath(new URL('../bin/dlr.js', import.meta.url));
const MIB = 1024 * 1024;
const GNU_TIME = '/usr/bin/time';

async function startServer(root, rateMib) {
  const nginx = await startNginx(root, `limit_rate ${rateMib}m;`);
  if (nginx) return { ...nginx, name: `nginx limit_rate ${rateMib}m` };
  const port = await freePort();
  // Fallback: Range and If-Range on a strong ETag, every answer paced at the cap.
  const source = `
    const http = require('node:http'); const fs = require('node:fs'); const path = require('node:path');
    const root = process.argv[1]; const rate = ${rateMib} * 1048576;
    http.createServer((req, res) => {
      const file = path.join(root, path.basename(req.url));
      fs.stat(file, (err, st) => {
        if (err) return res.writeHead(404).end();
        const etag = '"' + st.size.toString(16) + '-' + Math.floor(st.mtimeMs).toString(16) + '"';
        let start = 0, end = st.size - 1;
        const m = /^bytes=(\\d+)-(\\d*)$/.exec(req.headers.range || '');
        const ok = m && (!req.headers['if-range'] || req.headers['if-range'] === etag);
        if (ok) { start = Number(m[1]); if (m[2]) end = Math.min(Number(m[2]), end); }
        const h = { 'content-length': end - start + 1, etag, 'accept-ranges': 'bytes' };
        if (ok) h['content-range'] = 'bytes ' + start + '-' + end + '/' + st.size;
        res.writeHead(ok ? 206 : 200, h);
        const stream = fs.createReadStream(file, { start, end, highWaterMark: 256 * 1024 });
        const began = Date.now(); let sent = 0;
        stream.on('data', (c) => { sent += c.length; res.write(c); const ahead = sent / rate * 1000 - (Date.now() - began); if (ahead > 0) { stream.pause(); setTimeout(() => stream.resume(), ahead); } });
        stream.on('end', () => res.end());
        res.on('close', () => stream.destroy());
      });
    }).listen(${port}, '127.0.0.1');
    process.stdin.resume(); process.stdin.on('end', () => process.exit(0));`;
  const child = spawn(process.execPath, ['-e', source, join(root, 'www')], { stdio: ['pipe', 'ignore', 'inherit'] });
  await waitForPort(port);
  return { origin: `http://127.0.0.1:${port}`, name: `node:http ${rateMib} MiB/s per answer`, stop: () => child.kill('SIGTERM') };
}

async function timed(argv) {
  const statsFile = join(tmpdir(), `dlr-bench-seg-time-${process.pid}.txt`);
  const useTime = existsSync(GNU_TIME);
  const full = useTime ? [GNU_TIME, '-o', statsFile, '-f', '%M', ...argv] : argv;
  const started = performance.now();
  const code = await new Promise((resolve, reject) => {
    const child = spawn(full[0], full.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (c) => (c === 0 ? resolve(c) : reject(new Error(`${argv[0]} exited ${c}: ${err.slice(-400)}`))));
  });
  const wall = (performance.now() - started) / 1000;
  const rss = useTime ? Number((await readFile(statsFile, 'utf8')).trim().split('\n').at(-1)) / 1024 : Number.NaN;
  return { code, wall, rss };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function runSegmentedBench() {
  const sizeMib = Number(process.env.BENCH_SIZE_MIB ?? 1024);
  const rateMib = Number(process.env.BENCH_RATE_MIB ?? 20);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
  const extra = (process.env.BENCH_DLR_ARGS ?? '').split(/\s+/).filter(Boolean);
  const aria2 = which('aria2c');
  const root = await mkdtemp(join(tmpdir(), 'dlr-bench-seg-'));
  let server;
  try {
    mkdirSync(join(root, 'www'));
    mkdirSync(join(root, 'out'));
    const file = join(root, 'www', 'big.bin');
    const block = randomBytes(16 * MIB);
    const handle = await open(file, 'w');
    for (let written = 0; written < sizeMib * MIB; written += block.length) await handle.write(block, 0, Math.min(block.length, sizeMib * MIB - written));
    await handle.close();
    server = await startServer(root, rateMib);
    const url = `${server.origin}/big.bin`;
    console.log(`segmented: ${sizeMib} MiB, ${server.name}, ${rounds} rounds (dlr -x 8 then aria2c -x8 -s8)`);
    const out = join(root, 'out', 'big.bin');
    const results = { dlr: [], aria2c: [] };
    for (let i = 0; i < rounds; i++) {
      rmSync(out, { force: true });
      const d = await timed([process.execPath, DLR, 'download', url, '-o', out, '-x', '8', '--force', '--quiet', ...extra]);
      results.dlr.push(d);
      console.log(`  round ${i + 1} dlr     ${d.wall.toFixed(2)} s  peak RSS ${d.rss.toFixed(1)} MiB`);
      rmSync(out, { force: true });
      if (aria2) {
        const a = await timed([aria2, '-x8', '-s8', '-k20M', '--allow-overwrite=true', '--auto-file-renaming=false', '--file-allocation=none', '-q', '-d', join(root, 'out'), '-o', 'big.bin', url]);
        results.aria2c.push(a);
        console.log(`  round ${i + 1} aria2c  ${a.wall.toFixed(2)} s  peak RSS ${a.rss.toFixed(1)} MiB`);
        rmSync(out, { force: true });
      }
    }
    const dw = median(results.dlr.map((r) => r.wall));
    const line = [`median dlr -x 8 ${dw.toFixed(2)} s (peak RSS max ${Math.max(...results.dlr.map((r) => r.rss)).toFixed(1)} MiB)`];
    if (results.aria2c.length) {
      const aw = median(results.aria2c.map((r) => r.wall));
      line.push(`aria2c -x8 -s8 ${aw.toFixed(2)} s; ratio ${(dw / aw).toFixed(2)}`);
    } else line.push('aria2c not installed');
    console.log(`  ${line.join('; ')}`);
  } finally {
    server?.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runSegmentedBench().catch((error) => {
    console.error(`bench failed: ${error.message}`);
    process.exitCode = 1;
  });
}
