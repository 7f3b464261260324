import { GCProfiler } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { collectEvery, collectYoungGarbage } from '../../src/util/young-gc.js';

/**
 * Young-generation collections V8 runs while `work` runs. Counted with
 * v8.GCProfiler, which records synchronously (a PerformanceObserver delivers
 * later, and picks up whatever else the worker does meanwhile). The young
 * generation is emptied first, so the few bytes the loop allocates cannot
 * fill it and trigger a collection of V8's own: the count is exactly the
 * collections the code under test asked for.
 */
function youngGcsDuring(work: () => void): number {
  collectYoungGarbage();
  const profiler = new GCProfiler();
  profiler.start();
  work();
  const { statistics } = profiler.stop();
  return statistics.filter((s) => s.gcType === 'Scavenge' || s.gcType === 'MinorMarkSweep' || s.gcType === 'MinorMarkCompact').length;
}

describe('collectEvery', () => {
  it('runs one young-generation collection per N bytes fed to it', () => {
    const feed = collectEvery(1000);
    // 20 × 500 bytes = 10 000 bytes: one collection every second call, 10 in all.
    expect(youngGcsDuring(() => {
      for (let i = 0; i < 20; i++) feed(500);
    })).toBe(10);
  });

  it('keeps its count across calls: bytes below N collect nothing until they add up to N', () => {
    const feed = collectEvery(1000);
    expect(youngGcsDuring(() => feed(999))).toBe(0);
    expect(youngGcsDuring(() => feed(1))).toBe(1);
    // The count starts again after a collection.
    expect(youngGcsDuring(() => feed(999))).toBe(0);
  });

  it('collects nothing when told 0', () => {
    const feed = collectEvery(0);
    expect(youngGcsDuring(() => {
      for (let i = 0; i < 20; i++) feed(500);
    })).toBe(0);
  });
});
