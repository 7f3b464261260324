import { PerformanceObserver, constants } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { collectEvery } from '../../src/util/young-gc.js';

/** Minor GCs V8 reports while `work` runs. */
async function minorGcsDuring(work: () => void): Promise<number> {
  let count = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      // Node adds `detail` to gc entries; the DOM PerformanceEntry type lacks it.
      if ((entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) count++;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  work();
  // GC entries are delivered asynchronously.
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  return count;
}

describe('collectEvery', () => {
  it('runs a young-generation collection after every N bytes fed to it', async () => {
    const feed = collectEvery(1000);
    const count = await minorGcsDuring(() => {
      for (let i = 0; i < 20; i++) feed(500); // 10 000 bytes: 10 collections
    });
    expect(count).toBeGreaterThanOrEqual(10);
  });

  it('collects nothing when told 0', async () => {
    const feed = collectEvery(0);
    const count = await minorGcsDuring(() => {
      for (let i = 0; i < 20; i++) feed(500);
    });
    expect(count).toBeLessThan(10);
  });
});
