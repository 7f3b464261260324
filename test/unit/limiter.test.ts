import { describe, expect, it } from 'vitest';
import { DlrError } from '../../src/errors.js';
import { gcraReserve, perMinute } from '../../src/limiter/gcra.js';
import { MemoryLimiter, type MemoryLimiterOptions } from '../../src/limiter/memory-limiter.js';
import type { OriginBudget } from '../../src/limiter/types.js';

const UNLIMITED: OriginBudget = { requestsPerMinute: 0, burst: 0, maxConnections: 0, bytesPerSecond: 0 };

function limiter(budget: Partial<OriginBudget>, extra: Partial<MemoryLimiterOptions> = {}) {
  return new MemoryLimiter({
    budgetFor: (origin) => (origin === 'http://a' ? { ...UNLIMITED, ...budget } : UNLIMITED),
    pauseWithoutHeaderMs: 300,
    maxPauseMs: 60_000,
    unreachableDelaysMs: [150, 150],
    random: () => 0,
    ...extra,
  });
}

const refused = () => new DlrError('network', 'connection failed: ECONNREFUSED', { detail: 'ECONNREFUSED' });

describe('gcraReserve', () => {
  it('lets a burst go at once, then spaces units evenly, with no window edge', () => {
    const params = perMinute(60, 3)!; // one a second after three at once
    let tat = 0;
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = gcraReserve(tat, 10_000, params);
      tat = r.tat;
      waits.push(r.waitMs);
    }
    expect(waits).toEqual([0, 0, 0, 1000, 2000, 3000]);
    // After a quiet spell the full burst is back, and never more.
    const later = [0, 0, 0, 0].map(() => {
      const r = gcraReserve(tat, 100_000, params);
      tat = r.tat;
      return r.waitMs;
    });
    expect(later).toEqual([0, 0, 0, 1000]);
  });

  it('is unlimited at rate 0', () => {
    expect(perMinute(0, 5)).toBeUndefined();
  });
});

describe('MemoryLimiter', () => {
  it('spaces requests to an origin by its budget and leaves other origins alone', async () => {
    const l = limiter({ requestsPerMinute: 600, burst: 2 }); // 100 ms apart after 2
    const t0 = performance.now();
    const times: number[] = [];
    await Promise.all(
      Array.from({ length: 5 }, async () => {
        const p = await l.acquire('http://a');
        times.push(performance.now() - t0);
        p.release();
      }),
    );
    const other = performance.now();
    for (let i = 0; i < 20; i++) (await l.acquire('http://b')).release();
    expect(performance.now() - other).toBeLessThan(100);
    times.sort((x, y) => x - y);
    expect(times[1]).toBeLessThan(50);
    expect(times[2]).toBeGreaterThanOrEqual(90);
    expect(times[4]).toBeGreaterThanOrEqual(290);
    expect(times[4]).toBeLessThan(800);
  });

  it('holds requests past max_connections until one is released', async () => {
    const l = limiter({ maxConnections: 2 });
    const a = await l.acquire('http://a');
    await l.acquire('http://a');
    let third = false;
    const pending = l.acquire('http://a').then((p) => {
      third = true;
      return p;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(third).toBe(false);
    a.release();
    a.release(); // idempotent: frees one slot, not two
    await pending;
    expect(third).toBe(true);
  });

  it('pauses the whole origin on a 429 for its Retry-After, and learns a lower rate that climbs back', async () => {
    const events: string[] = [];
    const l = limiter({ requestsPerMinute: 6000, burst: 10 }, { onOriginEvent: (e) => events.push(e.type) });
    const p = await l.acquire('http://a');
    p.answered(429, { 'retry-after': '1' });
    p.release();
    expect(events).toEqual(['origin-pause']);
    const t0 = performance.now();
    const next = await l.acquire('http://a');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(950);
    expect(l.stats()[0]).toMatchObject({ requests: 2, throttled: { 429: 1 }, learnedRequestsPerMinute: 3000 });
    next.answered(200, {});
    next.release();
    expect(l.learnedRates()).toEqual({ 'http://a': 3001 });
  });

  it('pauses on a 429 without any header for the configured pause, and on a spent RateLimit window even on a 200', async () => {
    const l = limiter({});
    const p = await l.acquire('http://a');
    p.answered(503, {});
    p.release();
    let t0 = performance.now();
    const q = await l.acquire('http://a');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(280);
    q.answered(200, { ratelimit: '"resolvers";r=0;t=1' });
    q.release();
    t0 = performance.now();
    (await l.acquire('http://a')).release();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(950);
  });

  it('puts an unreachable origin on one retry schedule shared by every request, then fails them all at once', async () => {
    const events: string[] = [];
    const l = limiter({}, { onOriginEvent: (e) => events.push(e.type) });
    const first = await l.acquire('http://a');
    const marked = first.failed(refused());
    first.release();
    expect(marked.originWide).toBe(true);
    // Three files ask while it is down: one probe goes at the scheduled time, the others wait for its outcome.
    const t0 = performance.now();
    const granted: Array<Awaited<ReturnType<typeof l.acquire>>> = [];
    const asks = [0, 1, 2].map(() => l.acquire('http://a').then((p) => (granted.push(p), p)));
    while (granted.length < 1) await new Promise((r) => setTimeout(r, 5));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    await new Promise((r) => setTimeout(r, 30));
    expect(granted.length).toBe(1);
    granted[0]!.failed(refused());
    granted[0]!.release();
    while (granted.length < 2) await new Promise((r) => setTimeout(r, 5));
    // The last scheduled probe fails: the origin is given up, every waiter gets its error at once.
    granted[1]!.failed(refused());
    granted[1]!.release();
    const settled = await Promise.allSettled(asks);
    const rejected = settled.filter((s) => s.status === 'rejected');
    expect(rejected.length).toBe(1);
    const error = (rejected[0] as PromiseRejectedResult).reason as DlrError;
    expect(error.code).toBe('network');
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/ECONNREFUSED \(origin retried 2 times\)/);
    await expect(l.acquire('http://a')).rejects.toMatchObject({ code: 'network' });
    expect(events).toEqual(['origin-down', 'origin-down', 'origin-dead']);
    // Another origin carries on.
    (await l.acquire('http://b')).release();
  });

  it('retries a name that does not resolve once, briefly, and a TLS failure not at all', async () => {
    const l = limiter({}, { unreachableDelaysMs: [60_000, 180_000] });
    const p = await l.acquire('http://a');
    p.failed(new DlrError('network', 'connection failed: ENOTFOUND', { detail: 'ENOTFOUND' }));
    p.release();
    const t0 = performance.now();
    const probe = await l.acquire('http://a');
    expect(performance.now() - t0).toBeLessThan(2_500);
    expect(probe.failed(new DlrError('network', 'x', { detail: 'ENOTFOUND' })).retryable).toBe(false);
    const t = await l.acquire('http://b');
    const tls = t.failed(new DlrError('tls', 'TLS: not trusted', { retryable: false }));
    expect(tls.originWide).toBe(false);
    await expect(l.acquire('http://b')).rejects.toMatchObject({ code: 'tls' });
  });

  it('ends a wait at once on abort', async () => {
    const l = limiter({ maxConnections: 1 });
    await l.acquire('http://a');
    const controller = new AbortController();
    const waiting = l.acquire('http://a', controller.signal);
    setTimeout(() => controller.abort(), 30);
    await expect(waiting).rejects.toMatchObject({ code: 'interrupted' });
  });

  it('paces bytes per origin and per run', () => {
    let now = 0;
    const l = limiter({ bytesPerSecond: 1024 * 1024 }, { limitRateBytesPerSec: 512 * 1024, now: () => now });
    expect(l.takeBytes('http://a', 64 * 1024)).toBe(0);
    // 1 MiB more: the run's 512 KiB/s is the tighter cap.
    const wait = l.takeBytes('http://a', 1024 * 1024);
    expect(wait).toBeGreaterThan(1700);
    expect(wait).toBeLessThan(2100);
    now += 10_000;
    expect(l.takeBytes('http://b', 64 * 1024)).toBe(0);
  });
});

describe('MemoryLimiter: the learned rate', () => {
  it('halves once for a burst of 429s answering requests sent at the same moment', async () => {
    const l = limiter({ requestsPerMinute: 6000, burst: 10 }, { pauseWithoutHeaderMs: 50 });
    const permits = await Promise.all([0, 1, 2, 3].map(() => l.acquire('http://a')));
    for (const p of permits) {
      p.answered(429, {});
      p.release();
    }
    expect(l.learnedRates()).toEqual({ 'http://a': 3000 });
  });
});

describe('MemoryLimiter: a pause that starts while a request waits for its turn', () => {
  it('holds that request too', async () => {
    const l = limiter({ requestsPerMinute: 600, burst: 1 });
    const a = await l.acquire('http://a');
    const t0 = performance.now();
    const waiting = l.acquire('http://a'); // its turn is ~100 ms away
    a.answered(429, { 'retry-after': '1' });
    a.release();
    (await waiting).release();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(950);
  });
});

describe('MemoryLimiter: requests of the same moment (a black-box hunt found these)', () => {
  it('counts failures of requests already in flight when the origin went down as one outage, not as tries', async () => {
    const l = limiter({}, { unreachableDelaysMs: [200, 200, 200] });
    const inFlight = await Promise.all([0, 1, 2, 3].map(() => l.acquire('http://a')));
    const errors = inFlight.map((p) => {
      const e = p.failed(refused());
      p.release();
      return e;
    });
    expect(errors.every((e) => e.originWide)).toBe(true);
    // The schedule is untouched: the next request waits for the first delay and probes; it answers, the origin is up.
    const t0 = performance.now();
    const probe = await l.acquire('http://a');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(180);
    probe.answered(200, {});
    probe.release();
    (await l.acquire('http://a')).release();
  });

  it('holds a request that waited for a connection slot when a 429 paused the origin meanwhile', async () => {
    const l = limiter({ maxConnections: 1 });
    const first = await l.acquire('http://a');
    const t0 = performance.now();
    const queued = l.acquire('http://a');
    first.answered(429, { 'retry-after': '1' });
    first.release();
    (await queued).release();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(950);
  });

  it('spaces the waiters by the budget when a pause lifts, instead of letting them all go at once', async () => {
    const l = limiter({ requestsPerMinute: 600, burst: 1 }); // 100 ms apart
    const first = await l.acquire('http://a');
    const times: number[] = [];
    const waiters = [0, 1, 2].map(() => l.acquire('http://a').then((p) => (times.push(performance.now()), p.release())));
    first.answered(429, { 'retry-after': '1' });
    first.release();
    await Promise.all(waiters);
    times.sort((a, b) => a - b);
    // After the pause the learned rate is 300/min (200 ms apart): never two within ~150 ms.
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(150);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(150);
  });
});

describe('MemoryLimiter: a rate learned by an earlier run', () => {
  it('starts from it, one at a time, instead of the budget and its burst', async () => {
    const l = limiter({ requestsPerMinute: 60_000, burst: 10 }, { learned: { 'http://a': 600 } }); // 100 ms apart
    const t0 = performance.now();
    for (let i = 0; i < 3; i++) (await l.acquire('http://a')).release();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
    const u0 = performance.now();
    for (let i = 0; i < 3; i++) (await l.acquire('http://b')).release();
    expect(performance.now() - u0).toBeLessThan(50);
  });
});
