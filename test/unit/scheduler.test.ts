import { describe, expect, it } from 'vitest';
import { schedule } from '../../src/batch/scheduler.js';

interface Entry {
  readonly name: string;
  readonly heavy: boolean;
  readonly ms: number;
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function trace(items: Entry[], jobs: number, heavyJobs = 1, signal?: AbortSignal) {
  const starts: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let heavyInFlight = 0;
  let maxHeavy = 0;
  const result = await schedule({
    items,
    jobs,
    heavyJobs,
    isHeavy: (e) => e.heavy,
    signal,
    run: async (e) => {
      starts.push(e.name);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      if (e.heavy) maxHeavy = Math.max(maxHeavy, ++heavyInFlight);
      await tick(e.ms);
      if (e.heavy) heavyInFlight--;
      inFlight--;
    },
  });
  return { starts, maxInFlight, maxHeavy, notStarted: result.notStarted };
}

const plan = (): Entry[] => [
  { name: 'ckpt1', heavy: true, ms: 60 },
  { name: 'ckpt2', heavy: true, ms: 60 },
  { name: 'lora1', heavy: false, ms: 10 },
  { name: 'lora2', heavy: false, ms: 10 },
  { name: 'emb1', heavy: false, ms: 10 },
];

describe('schedule', () => {
  it('runs strictly one after another in plan order with one job', async () => {
    const t = await trace(plan(), 1);
    expect(t.starts).toEqual(['ckpt1', 'ckpt2', 'lora1', 'lora2', 'emb1']);
    expect(t.maxInFlight).toBe(1);
  });

  it('never has more than N in flight, never two checkpoints at once, and fills the slots with lighter files', async () => {
    const t = await trace(plan(), 3);
    expect(t.maxInFlight).toBeLessThanOrEqual(3);
    expect(t.maxHeavy).toBe(1);
    // ckpt2 waits for ckpt1; the LoRAs and the embedding start around it.
    expect(t.starts.slice(0, 3)).toEqual(['ckpt1', 'lora1', 'lora2']);
    expect(t.starts.indexOf('ckpt2')).toBeGreaterThan(t.starts.indexOf('emb1'));
  });

  it('allows more heavy jobs when asked', async () => {
    const t = await trace(plan(), 4, 2);
    expect(t.maxHeavy).toBe(2);
    expect(t.starts.slice(0, 2)).toEqual(['ckpt1', 'ckpt2']);
  });

  it('starts nothing after an abort and returns the entries never started', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const t = await trace(plan(), 1, 1, controller.signal);
    expect(t.starts).toEqual(['ckpt1']);
    expect(t.notStarted).toEqual([1, 2, 3, 4]);
  });

  it('handles an empty plan and a large one without deep recursion', async () => {
    expect((await trace([], 4)).starts).toEqual([]);
    const many = Array.from({ length: 50_000 }, (_, i) => ({ name: `f${i}`, heavy: false, ms: 0 }));
    const started: number[] = [];
    await schedule({ items: many, jobs: 8, heavyJobs: 1, isHeavy: () => false, run: async (_e, i) => void started.push(i) });
    expect(started.length).toBe(50_000);
  });
});
