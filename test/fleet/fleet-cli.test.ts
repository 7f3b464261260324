import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FaultServer } from '../../fixtures/server/fault-server.js';
import { startFaultServer } from '../../fixtures/server/fault-server.js';
import { FAST, runCli, type CliRun } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { REDIS_SERVER, startRedis, type Redis } from './redis-server.js';

/**
 * Fleet mode end to end: several built dlr processes, one real redis-server
 * (its own, on a free loopback port), and the fault server as a strict
 * upstream (a token bucket that answers 429 above it). dlr's budget for the
 * origin is set a little under the server's, as a user would set it under a
 * site's published limit: one member alone never earns a 429, three members
 * with a budget each would (the control below shows it), three sharing
 * one budget through Redis must not.
 */
const SERVER_LIMIT = { perSecond: 10, burst: 3, retryAfterSec: 1 } as const;
const BUDGET = { requests_per_minute: 420, burst: 2 };

interface Member {
  readonly root: string;
  readonly dir: string;
  readonly historyPath: string;
}


describe.skipIf(REDIS_SERVER === undefined)('fleet mode (redownload --coordinator, real redis-server)', () => {
  let server: FaultServer;
  let redis: Redis;
  const cleanups: Array<() => Promise<void>> = [];

  beforeEach(async () => {
    server = await startFaultServer();
    redis = await startRedis();
  });
  afterEach(async () => {
    await redis.stop();
    await server.close();
    for (const c of cleanups.splice(0)) await c();
  });

  /** A workspace: config (budget, lease TTL), history of `files`, one models folder. */
  async function member(files: readonly string[], root?: string, leaseTtlSeconds = 2): Promise<Member> {
    if (root === undefined) {
      const tmp = await makeTempDir('dlr-fleet-');
      cleanups.push(tmp.cleanup);
      root = tmp.path;
    }
    const dir = join(root, 'models');
    await mkdir(join(root, 'home'), { recursive: true });
    await writeFile(
      join(root, 'dlr.config.json'),
      JSON.stringify({
        download_paths: { default: 'models', lora: 'models' },
        history_file: 'history.csv',
        rate_limit_settings: { sleep_between_downloads: 0, retry_delays: [0.01, 0.01, 0.01], speed_threshold_kbps: 0 },
        origins: { [server.origin]: BUDGET },
        coordinator: { lease_ttl_seconds: leaseTtlSeconds },
      }),
    );
    const historyPath = join(root, 'history.csv');
    const rows = files.map((name) => `2024-10-24 10:00:00,lora,${server.url(`/${name}`)},${name}`);
    await writeFile(historyPath, ['timestamp,model_type,url,filename', ...rows].join('\n') + '\n');
    return { root, dir, historyPath };
  }

  function run(m: Member, extra: { coordinator?: boolean; env?: Record<string, string>; onSpawn?: (child: ChildProcess) => void } = {}): Promise<CliRun> {
    const args = ['redownload', 'all', '--yes', '-j', '4', ...FAST];
    if (extra.coordinator !== false) args.push('--coordinator', redis.url);
    return runCli(args, {
      cwd: m.root,
      env: { HOME: join(m.root, 'home'), XDG_CONFIG_HOME: join(m.root, 'home', '.config'), ...extra.env },
      timeoutMs: 60_000,
      ...(extra.onSpawn ? { onSpawn: extra.onSpawn } : {}),
    });
  }

  function serve(count: number, size: number, prefix = 'f'): Map<string, Buffer> {
    const bodies = new Map<string, Buffer>();
    for (let i = 0; i < count; i++) {
      const name = `${prefix}${String(i).padStart(2, '0')}.safetensors`;
      const body = randomBytes(size);
      bodies.set(name, body);
      server.setFile(`/${name}`, { body });
    }
    return bodies;
  }

  async function expectExact(dir: string, bodies: Map<string, Buffer>): Promise<void> {
    for (const [name, body] of bodies) expect((await readFile(join(dir, name))).equals(body), name).toBe(true);
  }

  const throttled = (from = 0) => server.requests.slice(from).filter((r) => r.status === 429).length;
  const bytesSentTo = (name: string) => server.requestsTo(`/${name}`).reduce((sum, r) => sum + r.bytesSent, 0);

  it('three members on one history and one folder: zero 429s, every file byte-exact, each file sent once', async () => {
    const bodies = serve(24, 64 * 1024);
    const m = await member([...bodies.keys()]);
    server.rateLimit(SERVER_LIMIT);
    const started = performance.now();
    const runs = await Promise.all([run(m), run(m), run(m)]);
    const wallMs = performance.now() - started;
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(throttled()).toBe(0);
    await expectExact(m.dir, bodies);
    for (const [name, body] of bodies) expect(bytesSentTo(name), name).toBe(body.length);
    // The budget's ideal: after the burst, one request every 60/rpm seconds.
    const idealMs = ((bodies.size - BUDGET.burst) * 60_000) / BUDGET.requests_per_minute;
    const spanMs = Math.max(...server.requests.map((r) => r.endedAt ?? r.at)) - Math.min(...server.requests.map((r) => r.at));
    process.stderr.write(
      `fleet: 3 members, ${bodies.size} files: ${Math.round(wallMs)} ms wall (processes included), ${Math.round(spanMs)} ms first to last request, budget ideal ${Math.round(idealMs)} ms\n`,
    );
  }, 60_000);

  it('a member SIGKILLed mid-file: the others finish everything, and its part is resumed, not fetched again', async () => {
    const big = randomBytes(2 * 1024 * 1024);
    server.setFile('/big.safetensors', { body: big, bytesPerSec: 1024 * 1024 });
    const bodies = serve(6, 32 * 1024);
    const m = await member(['big.safetensors', ...bodies.keys()]);
    server.rateLimit(SERVER_LIMIT);
    const part = join(m.dir, 'big.safetensors.part');
    const killed = await run(m, {
      onSpawn: (child) => {
        const poll = setInterval(() => {
          void stat(part).then(
            (st) => {
              if (st.size >= 256 * 1024 && child.exitCode === null) {
                clearInterval(poll);
                child.kill('SIGKILL');
              }
            },
            () => undefined,
          );
        }, 20);
        child.on('close', () => clearInterval(poll));
      },
    });
    expect(killed.signal).toBe('SIGKILL');
    const kept = (await stat(part)).size;
    expect(kept).toBeGreaterThan(0);
    // Its lease is still in Redis: the others skip the file, come back, and take it once the TTL is over.
    const runs = await Promise.all([run(m), run(m)]);
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(throttled()).toBe(0);
    expect((await readFile(join(m.dir, 'big.safetensors'))).equals(big)).toBe(true);
    await expectExact(m.dir, bodies);
    const ranges = server.requestsTo('/big.safetensors').map((r) => r.headers.range);
    expect(ranges.filter((r) => typeof r === 'string' && /^bytes=[1-9]\d*-$/.test(r))).toHaveLength(1);
    // Sent once and for all but what died in the killed member's socket and part tail.
    expect(bytesSentTo('big.safetensors')).toBeLessThan(big.length + kept);
    const sidecar = join(m.dir, 'big.safetensors.part.json');
    await expect(stat(sidecar)).rejects.toThrow();
  }, 60_000);

  it('members with their own folders pulling the same files at once: 429s without a coordinator, none with one', async () => {
    const bodies = serve(12, 32 * 1024);
    server.rateLimit(SERVER_LIMIT);
    // Control: each member with its own budget (no coordinator) together exceed the upstream's.
    const alone = await Promise.all([0, 1, 2].map(async () => member([...bodies.keys()].slice(0, 6))));
    await Promise.all(alone.map((m) => run(m, { coordinator: false })));
    expect(throttled()).toBeGreaterThan(0);

    await new Promise((r) => setTimeout(r, 1_500));
    const from = server.requests.length;
    const fleet = await Promise.all([0, 1, 2].map(async () => member([...bodies.keys()])));
    const runs = await Promise.all(fleet.map((m) => run(m)));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(throttled(from)).toBe(0);
    for (const m of fleet) await expectExact(m.dir, bodies);
  }, 60_000);

  it('members whose clocks are an hour apart still share one budget (Redis TIME decides)', async () => {
    const bodies = serve(12, 32 * 1024);
    server.rateLimit(SERVER_LIMIT);
    const members = await Promise.all([0, 1].map(async () => member([...bodies.keys()])));
    const started = performance.now();
    const runs = await Promise.all([
      run(members[0]!, { env: { DLR_TEST_CLOCK_OFFSET_MS: String(3_600_000) } }),
      run(members[1]!, { env: { DLR_TEST_CLOCK_OFFSET_MS: String(-3_600_000) } }),
    ]);
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(throttled()).toBe(0);
    for (const m of members) await expectExact(m.dir, bodies);
    // Nobody waited for a budget booked an hour ahead.
    expect(performance.now() - started).toBeLessThan(45_000);
  }, 60_000);

  it('Redis killed mid-run: exit 75 with one line naming it, the part kept, nothing renamed', async () => {
    const big = randomBytes(2 * 1024 * 1024);
    server.setFile('/big.safetensors', { body: big, bytesPerSec: 512 * 1024 });
    const m = await member(['big.safetensors']);
    const part = join(m.dir, 'big.safetensors.part');
    const r = await run(m, {
      onSpawn: (child) => {
        const poll = setInterval(() => {
          void stat(part).then(
            (st) => {
              if (st.size > 0) {
                clearInterval(poll);
                void redis.kill();
              }
            },
            () => undefined,
          );
        }, 20);
        child.on('close', () => clearInterval(poll));
      },
    });
    expect(r.code, r.stderr).toBe(75);
    expect(r.stderr).toMatch(/lost the coordinator redis:\/\/127\.0\.0\.1:\d+/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect((await stat(part)).size).toBeGreaterThan(0);
    await expect(stat(join(m.dir, 'big.safetensors'))).rejects.toThrow();
  }, 60_000);

  it('coordinator unreachable at start: exit 75, one line naming it, nothing fetched', async () => {
    const bodies = serve(2, 1024);
    const m = await member([...bodies.keys()]);
    await redis.kill();
    const r = await run(m);
    expect(r.code).toBe(75);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^dlr: cannot reach the coordinator redis:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); nothing was fetched/);
    expect(server.requests).toHaveLength(0);
  });

  it('dlr fleet status shows the lease a member holds mid-file', async () => {
    const big = randomBytes(1024 * 1024);
    server.setFile('/held.safetensors', { body: big, bytesPerSec: 256 * 1024 });
    const m = await member(['held.safetensors']);
    const part = join(m.dir, 'held.safetensors.part');
    let status: CliRun | undefined;
    const r = await run(m, {
      onSpawn: (child) => {
        const poll = setInterval(() => {
          void stat(part).then(
            async (st) => {
              if (st.size === 0 || status !== undefined) return;
              clearInterval(poll);
              status = await runCli(['fleet', 'status', '--coordinator', redis.url], { cwd: m.root, env: { HOME: join(m.root, 'home') } });
            },
            () => undefined,
          );
        }, 20);
        child.on('close', () => clearInterval(poll));
      },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(status?.code, status?.stderr).toBe(0);
    expect(status!.stdout).toMatch(/^coordinator redis:\/\/127\.0\.0\.1:\d+/);
    expect(status!.stdout).toMatch(/leases: 1/);
    expect(status!.stdout).toMatch(/held\.safetensors/);
  }, 60_000);
});
