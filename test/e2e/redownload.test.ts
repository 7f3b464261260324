import { spawn, spawnSync } from 'node:child_process';
import { readFile, readdir, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeBytes, sha256 } from '../../fixtures/server/fault-server.js';
import { makeBatchEnv, type BatchEnv } from '../helpers/batch-env.js';
import { ANSI, BIN, cleanEnv, runCli, signalWhenPartHasBytes } from '../helpers/cli.js';
import { fileSha } from '../helpers/engine.js';
import { formatBytes } from '../../src/util/units.js';

let w: BatchEnv;
const ckpt = makeBytes(400_000, 1);
const lora1 = makeBytes(120_000, 2);
const lora2 = makeBytes(90_000, 3);
const emb = makeBytes(4_000, 4);

beforeEach(async () => {
  w = await makeBatchEnv();
  w.server.setFile('/1', { body: lora1 });
  w.server.setFile('/2', { body: ckpt });
  w.server.setFile('/3', { body: emb });
  w.server.setFile('/4', { body: lora2 });
  // The seed's test case 1, in history order.
  await w.writeHistory([
    ['lora', '/1', 'lora1.safetensors'],
    ['checkpoint', '/2', 'checkpoint1.safetensors'],
    ['embedding', '/3', 'embedding1.pt'],
    ['lora', '/4', 'lora2.safetensors'],
  ]);
});

afterEach(async () => {
  await w.cleanup();
});

// The seed's cases are about one file at a time (`-j 1`, exactly the old
// behaviour); the scheduler has its own tests (test/e2e/scheduler.test.ts).
const dlr = (args: string[], extra: Parameters<typeof runCli>[1] = {}) =>
  runCli(args[0] === 'redownload' && !args.some((a) => a === '-j' || a.startsWith('--jobs')) ? [...args, '--jobs', '1'] : args, { cwd: w.root, env: w.env, ...extra });
const bodyRequests = () => w.server.requests.map((r) => r.path);

async function expectAllFiles() {
  expect(await fileSha(join(w.dirOf('checkpoint'), 'checkpoint1.safetensors'))).toBe(sha256(ckpt));
  expect(await fileSha(join(w.dirOf('lora'), 'lora1.safetensors'))).toBe(sha256(lora1));
  expect(await fileSha(join(w.dirOf('lora'), 'lora2.safetensors'))).toBe(sha256(lora2));
  expect(await fileSha(join(w.dirOf('embedding'), 'embedding1.pt'))).toBe(sha256(emb));
}

describe('dlr redownload all', () => {
  it('downloads checkpoints, then LoRAs, then embeddings, into their folders (seed case 1), with a plain log', async () => {
    const run = await dlr(['redownload', 'all']);
    expect(run.code).toBe(0);
    expect(bodyRequests()).toEqual(['/2', '/1', '/4', '/3']);
    await expectAllFiles();
    expect(run.stderr).not.toMatch(ANSI);
    expect(run.stderr).not.toContain('\r');
    expect(run.stderr).toMatch(/\[1\/4\] start checkpoint/);
    expect(run.stderr).toMatch(/success {3}4/);
    // Nothing failed: no failures CSV.
    await expect(stat(join(w.root, 'failures.csv'))).rejects.toThrow();
    // The history itself is never rewritten.
    expect(await readFile(w.historyPath, 'utf8')).toMatch(/^timestamp,model_type,url,filename\n2024-10-24 10:00:00,lora,/);
  });

  it('recovers from a 429 after the configured delay (seed case 2)', async () => {
    w.server.script('/2', { kind: 'status', status: 429 });
    const run = await dlr(['redownload', 'all', '--summary-json', 's.json']);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/\[1\/4\] retry 1 in .*\[rate-limited\] HTTP 429/);
    const summary = JSON.parse(await readFile(join(w.root, 's.json'), 'utf8'));
    expect(summary).toMatchObject({ success: 4, failed: 0, retries: { total: 1, successful: 1 }, successRate: 1 });
    await expectAllFiles();
  });

  it('detects a trickle below the speed floor and resumes it (seed case 3)', async () => {
    w.server.script('/2', { kind: 'trickle', bytesPerSec: 3_000, afterBytes: 100_000 });
    const run = await dlr(['redownload', 'all', '--speed-floor', '10KiB', '--speed-window', '0.4']);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/\[rate-limited\] throttled/);
    expect(w.server.requestsTo('/2')[1]?.headers.range).toMatch(/^bytes=[1-9]\d*-$/);
    await expectAllFiles();
  });

  it('skips existing files without a request and without the pause (seed case 4)', async () => {
    await mkdir(w.dirOf('checkpoint'), { recursive: true });
    await mkdir(w.dirOf('lora'), { recursive: true });
    await writeFile(join(w.dirOf('checkpoint'), 'checkpoint1.safetensors'), 'existing');
    await writeFile(join(w.dirOf('lora'), 'lora1.safetensors'), 'existing');
    const run = await dlr(['redownload', 'all', '--sleep', '0.05']);
    expect(run.code).toBe(0);
    expect(bodyRequests()).toEqual(['/4', '/3']);
    expect(run.stderr).toMatch(/\[1\/4\] skip .*checkpoint1\.safetensors/);
    // One pause, per origin: after lora2 and before the next file from the same
    // site (not after the skips, not after the last file).
    expect(run.stderr.match(/ pause /g)).toHaveLength(1);
    expect(run.stderr).toMatch(/\[4\/4\] pause .* before the next file from this site/);
    expect(await readFile(join(w.dirOf('checkpoint'), 'checkpoint1.safetensors'), 'utf8')).toBe('existing');
    expect(run.stderr).toMatch(/skipped {3}2/);
  });

  it('replaces existing files with --force, keeping the old one until the new one is complete', async () => {
    const target = join(w.dirOf('checkpoint'), 'checkpoint1.safetensors');
    await mkdir(w.dirOf('checkpoint'), { recursive: true });
    await writeFile(target, 'old version');
    w.server.script('/2', { kind: 'trickle', bytesPerSec: 400_000, afterBytes: 50_000 });
    let seenDuring: string | undefined;
    const run = await dlr(['redownload', 'all', '--force'], {
      onSpawn: (child) => {
        const poll = setInterval(() => {
          void stat(`${target}.part`).then(
            async (st) => {
              if (st.size > 0 && seenDuring === undefined) seenDuring = await readFile(target, 'utf8');
            },
            () => undefined,
          );
        }, 10);
        child.on('close', () => clearInterval(poll));
      },
    });
    expect(run.code).toBe(0);
    expect(seenDuring).toBe('old version');
    await expectAllFiles();
  });

  it('writes a failures CSV that, used as the history, retries just those', async () => {
    await writeFile(w.historyPath, `${await readFile(w.historyPath, 'utf8')}2024-10-24 10:05:00,lora,${w.server.url('/gone')},gone.safetensors\n2024-10-24 10:06:00,lora,,empty.safetensors\n`);
    const first = await dlr(['redownload', 'all']);
    expect(first.code).toBe(1);
    const failures = join(w.root, 'failures.csv');
    const text = await readFile(failures, 'utf8');
    expect(text.split('\n')[0]).toBe('timestamp,model_type,url,filename,error_code,error_message,attempts,last_attempt_at');
    expect(text).toMatch(/gone\.safetensors,not-found,HTTP 404 Not Found: File not found,1,/);
    expect(text).toMatch(/empty\.safetensors,invalid-row,line 7: empty URL,0,/);
    expect(first.stderr).toMatch(/warning: .*line 7: empty URL/);

    w.server.setFile('/gone', { body: makeBytes(1000, 9) });
    w.server.requests.length = 0;
    // Exactly what the summary suggests; the retry run must not rewrite its own input.
    expect(first.stderr).toContain(`dlr redownload all --history ${failures}`);
    const retry = await dlr(['redownload', 'all', '--history', failures]);
    expect(retry.code).toBe(1);
    expect(bodyRequests()).toEqual(['/gone']);
    expect(await readFile(failures, 'utf8')).toBe(text);
    expect(await readFile(join(w.root, 'failures.retry.csv'), 'utf8')).toMatch(/empty\.safetensors,invalid-row/);
    const clash = await dlr(['redownload', 'all', '--failures', w.historyPath]);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toMatch(/--failures must not be the history file/);
  });

  it('never prints credentials from history URLs', async () => {
    await writeFile(w.historyPath, `timestamp,model_type,url,filename\nt,lora,${w.server.url('/1').replace('http://', 'http://user:s3cret-pass@')}?token=s3cret-token,l.safetensors\nt,lora,${w.server.url('/missing')}?token=s3cret-token,m.safetensors\n`);
    const run = await dlr(['redownload', 'all', '--summary-json', 's.json']);
    expect(run.code).toBe(1);
    const failures = await readFile(join(w.root, 'failures.csv'), 'utf8');
    expect(failures).toContain(`${w.server.url('/missing')},m.safetensors,not-found`);
    const everything = run.stdout + run.stderr + (await readFile(join(w.root, 's.json'), 'utf8')) + failures;
    expect(everything).not.toContain('s3cret');
  });

  it('redownloads one history entry by URL, and refuses a URL that is not in the history', async () => {
    const one = await dlr(['redownload', w.server.url('/4')]);
    expect(one.code).toBe(0);
    expect(bodyRequests()).toEqual(['/4']);
    const missing = await dlr(['redownload', w.server.url('/nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/is not in the history file/);
  });

  it('shows the plan with --dry-run and downloads nothing', async () => {
    const run = await dlr(['redownload', 'all', '--dry-run']);
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n').map((l) => l.split('\t').slice(0, 3).join(' '))).toEqual([
      '1 checkpoint fetch',
      '2 lora fetch',
      '3 lora fetch',
      '4 embedding fetch',
    ]);
    expect(w.server.requests).toHaveLength(0);
  });

  it('exits 75 naming the lock file and the holder when another run holds the folders', async () => {
    await mkdir(w.dirOf('lora'), { recursive: true });
    const lockPath = join(w.dirOf('lora'), '.dlr.lock');
    await writeFile(lockPath, JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString() }));
    const run = await dlr(['redownload', 'all']);
    expect(run.code).toBe(75);
    expect(run.stderr).toContain(lockPath);
    expect(run.stderr).toContain(`pid ${process.pid}`);
    expect(w.server.requests).toHaveLength(0);
  });

  it('takes over a stale lock from a dead process', async () => {
    await mkdir(w.dirOf('lora'), { recursive: true });
    await writeFile(join(w.dirOf('lora'), '.dlr.lock'), JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), started: '2020-01-01T00:00:00Z' }));
    const run = await dlr(['redownload', 'all']);
    expect(run.code).toBe(0);
    expect(await readdir(w.dirOf('lora'))).not.toContain('.dlr.lock');
  });

  it('on SIGINT keeps the part, lists the rest as interrupted, exits 130; the next run resumes byte-exact', async () => {
    w.server.script('/2', { kind: 'trickle', bytesPerSec: 150_000, afterBytes: 60_000 });
    const part = join(w.dirOf('checkpoint'), 'checkpoint1.safetensors.part');
    const first = await dlr(['redownload', 'all'], { onSpawn: signalWhenPartHasBytes(part, 'SIGINT') });
    expect(first.code).toBe(130);
    expect(first.stderr).toMatch(/summary: interrupted/);
    // The file under way failed; the three after it were never started: apart, and out of the rate.
    expect(first.stderr).toMatch(/ {2}failed {4}1 \(interrupted 1\)/);
    expect(first.stderr).toMatch(/ {2}not started 3 /);
    expect(first.stderr).toMatch(/success rate 0\.0% of the files tried/);
    const failures = await readFile(join(w.root, 'failures.csv'), 'utf8');
    expect(failures.match(/,interrupted,/g)).toHaveLength(4);
    const kept = (await stat(part)).size;
    expect(kept).toBeGreaterThan(0);

    const second = await dlr(['redownload', 'all']);
    expect(second.code).toBe(0);
    expect(w.server.requestsTo('/2').at(-1)?.headers.range).toBe(`bytes=${kept}-`);
    await expectAllFiles();
    await expect(stat(join(w.root, 'failures.csv'))).rejects.toThrow();
  });

  it('on SIGTERM during the pause between files exits 143 at once and lists the unstarted files (not those on disk) as interrupted', async () => {
    await mkdir(w.dirOf('lora'), { recursive: true });
    await writeFile(join(w.dirOf('lora'), 'lora2.safetensors'), 'already here');
    const started = Date.now();
    const run = await dlr(['redownload', 'all', '--sleep', '30'], {
      onSpawn: (child) => {
        let seen = '';
        let sent = false;
        child.stderr?.on('data', (d: Buffer) => {
          seen += d.toString();
          if (!sent && /pause 30/.test(seen)) {
            sent = true;
            child.kill('SIGTERM');
          }
        });
      },
    });
    expect(run.code).toBe(143);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await fileSha(join(w.dirOf('checkpoint'), 'checkpoint1.safetensors'))).toBe(sha256(ckpt));
    const failures = await readFile(join(w.root, 'failures.csv'), 'utf8');
    expect(failures.match(/,interrupted,not started: interrupted,0,/g)).toHaveLength(2);
    expect(failures).not.toContain('lora2.safetensors');
    expect(run.stderr).toMatch(/ {2}success {3}1 /);
    expect(run.stderr).toMatch(/ {2}skipped {3}1\n/);
    expect(run.stderr).toMatch(/ {2}failed {4}0\n/);
    expect(run.stderr).toMatch(/ {2}not started 2 /);
    expect(run.stderr).toMatch(/success rate 100\.0% of the files tried/);
  });

  it('exits at once on a second signal, with that signal\'s code', async () => {
    w.server.script('/2', { kind: 'trickle', bytesPerSec: 20_000, afterBytes: 10_000 });
    const part = join(w.dirOf('checkpoint'), 'checkpoint1.safetensors.part');
    const again = await dlr(['redownload', 'all'], { onSpawn: signalWhenPartHasBytes(part, 'SIGINT', 2) });
    expect(again.code).toBe(130);
    const kept = (await stat(part)).size;
    expect(kept).toBeGreaterThan(0);
    w.server.script('/2', { kind: 'trickle', bytesPerSec: 20_000, afterBytes: 10_000 });
    // Two different signals are both delivered (two SIGINTs sent at once may merge into one).
    const run = await dlr(['redownload', 'all'], {
      onSpawn: (child) => {
        const poll = setInterval(() => {
          void stat(part).then(
            (st) => {
              // Growing past what the first run kept: this run is transferring, its handlers are in place.
              if (st.size <= kept || child.killed) return;
              clearInterval(poll);
              child.kill('SIGINT');
              child.kill('SIGTERM');
            },
            () => undefined,
          );
        }, 10);
        child.on('close', () => clearInterval(poll));
      },
    });
    // Whichever the process took first stops the run; the other one ends it at once, with its own code.
    const first = /(SIGINT|SIGTERM): stopping/.exec(run.stderr)?.[1];
    expect(first, run.stderr).toBeDefined();
    expect(run.code, run.stderr).toBe(first === 'SIGINT' ? 143 : 130);
    // At once: no summary, no failures CSV written after the second signal.
    expect(run.stderr).not.toMatch(/summary:/);
  });

  it.each([
    ['a history without the url column', 'history.csv', 'timestamp,model_type,link,filename\nt,lora,https://x/a,a\n', /history\.csv: missing column url/],
    ['binary garbage as history', 'history.csv', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01, 0xff]), /history\.csv/],
    ['invalid JSON config', 'dlr.config.json', '{ "download_paths": ', /dlr\.config\.json.*JSON/],
    ['an unknown config key', 'dlr.config.json', '{ "retry": 1 }', /unknown key "retry"/],
    ['a negative delay', 'dlr.config.json', '{ "rate_limit_settings": { "retry_delays": [60, -1] } }', /retry_delays\[1\]/],
  ])('exits 2 with a one-line message for %s', async (_label, file, content, message) => {
    await writeFile(join(w.root, file), content);
    const run = await dlr(['redownload', 'all']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(w.server.requests).toHaveLength(0);
  });
});

/** `script` gives dlr a pseudo-terminal, so the confirmation prompt is really shown and answered. */
const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

function onTerminal(answer: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', `'${process.execPath}' '${BIN}' redownload all`, '/dev/null'], {
      cwd: w.root,
      env: cleanEnv({ ...w.env, TERM: 'xterm' }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let answered = false;
    const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new Error(`no exit:\n${out}`))), 15_000);
    const onOutput = (d: Buffer) => {
      out += d.toString();
      if (!answered && out.includes('(y/N)')) {
        answered = true;
        child.stdin.write(answer);
      }
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe.skipIf(!hasScript)('the confirmation prompt on a terminal', () => {
  it('asks before starting; "n" cancels with exit 0 and no request', async () => {
    const run = await onTerminal('n\r');
    expect(run.out).toContain('Download 4 files from the history (sizes not known until the servers are asked)? (y/N)');
    expect(run.out).toMatch(/cancelled/);
    expect(run.code).toBe(0);
    expect(w.server.requests).toHaveLength(0);
  });

  it('counts only the files it will fetch, with the size earlier runs left in part sidecars, and sends nothing for it', async () => {
    w.server.script('/2', { kind: 'reset-after', bytes: 150_000 });
    const first = await dlr(['redownload', 'all', '--retry-delays', '']);
    expect(first.code).toBe(1);
    const kept = (await stat(join(w.dirOf('checkpoint'), 'checkpoint1.safetensors.part'))).size;
    expect(kept).toBeGreaterThan(0);
    await rm(join(w.dirOf('embedding'), 'embedding1.pt'));
    await rm(join(w.dirOf('lora'), 'lora2.safetensors'));
    w.server.requests.length = 0;
    const run = await onTerminal('n\r');
    expect(run.out).toContain(
      `Download 3 of 4 files from the history (1 already there; ${formatBytes(ckpt.length - kept)} to fetch for 1, the size of 2 not known until asked)? (y/N)`,
    );
    expect(run.code).toBe(0);
    expect(w.server.requests).toHaveLength(0);
  });

  it('"y" starts the run', async () => {
    const run = await onTerminal('y\r');
    expect(run.code, run.out).toBe(0);
    await expectAllFiles();
  });

  it('Ctrl-C at the prompt exits 130, not an internal error', async () => {
    const run = await onTerminal('\u0003');
    expect(run.code, run.out).toBe(130);
    expect(run.out).not.toMatch(/internal error/);
    expect(w.server.requests).toHaveLength(0);
  });
});

describe('dlr history and dlr download --type', () => {
  it('prints the deduplicated, sorted plan as JSON with destinations and presence', async () => {
    await mkdir(w.dirOf('embedding'), { recursive: true });
    await writeFile(join(w.dirOf('embedding'), 'embedding1.pt'), 'x');
    const run = await dlr(['history', '--json']);
    expect(run.code).toBe(0);
    const plan = JSON.parse(run.stdout);
    expect(plan.entries.map((e: { filename: string; present: boolean }) => [e.filename, e.present])).toEqual([
      ['checkpoint1.safetensors', false],
      ['lora1.safetensors', false],
      ['lora2.safetensors', false],
      ['embedding1.pt', true],
    ]);
    expect(plan.entries[0].path).toBe(join(w.dirOf('checkpoint'), 'checkpoint1.safetensors'));
  });

  it("saves a new download into the type's folder and appends it to the history once it succeeds", async () => {
    w.server.setFile('/new', { body: makeBytes(5000, 7), contentDisposition: 'attachment; filename="fresh.safetensors"' });
    const run = await dlr(['download', w.server.url('/new'), '--type', 'LoCon']);
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(join(w.dirOf('lora'), 'fresh.safetensors'));
    const history = await readFile(w.historyPath, 'utf8');
    expect(history.trim().split('\n').at(-1)).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d,LoCon,${w.server.url('/new')},fresh\\.safetensors$`));
    const failed = await dlr(['download', w.server.url('/missing'), '--type', 'lora']);
    expect(failed.code).toBe(1);
    expect(await readFile(w.historyPath, 'utf8')).toBe(history);
  });

  it('adds no second row for a file the history already keeps under another URL, so the nightly run stays clean', async () => {
    // lora1.safetensors is row /1's file; the same file under another URL form (a query) is fetched again with -f.
    await dlr(['redownload', 'all']);
    const before = await readFile(w.historyPath, 'utf8');
    const again = await dlr(['download', `${w.server.url('/1')}?v=same`, '--type', 'lora', '--filename', 'lora1.safetensors', '-f']);
    expect(again.code, again.stderr).toBe(0);
    expect(await readFile(w.historyPath, 'utf8')).toBe(before);
    const night = await dlr(['redownload', 'all']);
    expect(night.code, night.stderr).toBe(0);
    expect(night.stderr).not.toMatch(/invalid-row/);
  });
});

describe('dlr download --type with a type dlr does not know', () => {
  it('exits 2 with one line listing the known types, sends nothing and leaves the history alone', async () => {
    w.server.setFile('/new', { body: makeBytes(5000, 7) });
    const before = await readFile(w.historyPath, 'utf8');
    const run = await dlr(['download', w.server.url('/new'), '--type', 'lroa']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^dlr: --type: unknown model type 'lroa'; known: checkpoint, lora, embedding, [^\n]*\n$/);
    expect(w.server.requests).toHaveLength(0);
    expect(await readFile(w.historyPath, 'utf8')).toBe(before);
  });

  it('takes a type the config gives a folder (download_paths), and Civitai\'s own type names', async () => {
    const config = JSON.parse(await readFile(join(w.root, 'dlr.config.json'), 'utf8'));
    config.download_paths.upscaler_models = 'models/upscale';
    await writeFile(join(w.root, 'dlr.config.json'), JSON.stringify(config));
    w.server.setFile('/up', { body: makeBytes(3000, 8), contentDisposition: 'attachment; filename="x4.pth"' });
    w.server.setFile('/vae', { body: makeBytes(3000, 9), contentDisposition: 'attachment; filename="v.safetensors"' });
    const custom = await dlr(['download', w.server.url('/up'), '--type', 'upscaler_models']);
    expect(custom.code, custom.stderr).toBe(0);
    expect(custom.stdout.trim()).toBe(join(w.root, 'models/upscale', 'x4.pth'));
    const vae = await dlr(['download', w.server.url('/vae'), '--type', 'VAE']);
    expect(vae.code, vae.stderr).toBe(0);
    expect(vae.stdout.trim()).toBe(join(w.dirOf('other'), 'v.safetensors'));
  });
});

describe('reports of a run with nothing to do', () => {
  it('removes last night\'s failures CSV and writes an all-zero summary', async () => {
    w.server.script('/2', { kind: 'status', status: 404 });
    const night1 = await dlr(['redownload', 'all', '--summary-json', 's.json']);
    expect(night1.code).toBe(1);
    expect(await readFile(join(w.root, 'failures.csv'), 'utf8')).toContain('not-found');
    await writeFile(w.historyPath, 'timestamp,model_type,url,filename\n');
    const night2 = await dlr(['redownload', 'all', '--summary-json', 's.json']);
    expect(night2.code).toBe(0);
    await expect(stat(join(w.root, 'failures.csv'))).rejects.toThrow();
    expect(JSON.parse(await readFile(join(w.root, 's.json'), 'utf8'))).toMatchObject({ total: 0, failed: 0, failuresCsv: null });
  });

  it('refuses a report path it cannot write before downloading anything', async () => {
    const run = await dlr(['redownload', 'all', '--summary-json', join(w.root, 'no-such-dir', 's.json')]);
    expect(run.code).toBe(2);
    expect(run.stderr.trim()).toMatch(/--summary-json: cannot write in .*no-such-dir$/);
    expect(w.server.requests).toHaveLength(0);
  });
});

describe('two rows that name the same file', () => {
  it('fetches the first and fails the second as invalid-row, instead of skipping it as present', async () => {
    await w.writeHistory([
      ['lora', '/1', 'same.safetensors'],
      ['lora', '/4', 'same.safetensors'],
    ]);
    const run = await dlr(['redownload', 'all']);
    expect(run.code).toBe(1);
    expect(await fileSha(join(w.dirOf('lora'), 'same.safetensors'))).toBe(sha256(lora1));
    expect(bodyRequests()).toEqual(['/1']);
    const failures = await readFile(join(w.root, 'failures.csv'), 'utf8');
    expect(failures).toContain(`${w.server.url('/4')},same.safetensors,invalid-row,`);
    expect(run.stderr).toMatch(/also the file of line 2/);
  });
});

