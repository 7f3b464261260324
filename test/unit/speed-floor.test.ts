import { describe, expect, it } from 'vitest';
import { SpeedMonitor } from '../../src/engine/speed-floor.js';

function clock(start = 0) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('SpeedMonitor', () => {
  it('does not judge before a full window has passed', () => {
    const c = clock();
    const m = new SpeedMonitor(10_240, 30_000, c.now);
    c.advance(29_000);
    expect(m.sample().belowFloor).toBe(false);
  });

  it('flags a transfer that stays below the floor for the whole window (seed: 5 KB/s for 40 s)', () => {
    const c = clock();
    const m = new SpeedMonitor(10_240, 30_000, c.now);
    let flaggedAt: number | undefined;
    for (let s = 1; s <= 40 && flaggedAt === undefined; s++) {
      c.advance(1000);
      m.add(5 * 1024);
      if (m.sample().belowFloor) flaggedAt = s;
    }
    expect(flaggedAt).toBe(30);
  });

  it('measures a sliding window, so a late throttle is seen even after a fast start', () => {
    const c = clock();
    const m = new SpeedMonitor(10_240, 30_000, c.now);
    for (let s = 0; s < 600; s++) {
      c.advance(1000);
      m.add(10 * 1024 * 1024); // ten minutes at 10 MiB/s
      expect(m.sample().belowFloor).toBe(false);
    }
    let flaggedAfter = 0;
    for (let s = 1; s <= 60; s++) {
      c.advance(1000);
      m.add(1024);
      if (m.sample().belowFloor) {
        flaggedAfter = s;
        break;
      }
    }
    // A since-the-start average would stay far above 10 KiB/s for hours.
    expect(flaggedAfter).toBeGreaterThan(0);
    expect(flaggedAfter).toBeLessThanOrEqual(31);
  });

  it('does not flag a transfer at or above the floor', () => {
    const c = clock();
    const m = new SpeedMonitor(10_240, 30_000, c.now);
    for (let s = 0; s < 90; s++) {
      c.advance(1000);
      m.add(10_240);
      expect(m.sample().belowFloor).toBe(false);
    }
  });

  it('reports the windowed rate: what was sent over the last window, not since the start, never 0 while bytes flow', () => {
    const c = clock();
    const m = new SpeedMonitor(0, 10_000, c.now);
    const rates: number[] = [];
    for (let s = 0; s < 20; s++) {
      c.advance(1000);
      m.add(s < 10 ? 1_000_000 : 1_000);
      rates.push(m.sample().bytesPerSec);
    }
    // The fast first half: 1 MB a second, as sent (a monitor stuck at 0 fails here).
    expect(rates[9]).toBeGreaterThanOrEqual(900_000);
    expect(rates[9]).toBeLessThanOrEqual(1_100_000);
    // Once the window holds only the slow half: 1000 B/s as sent (a since-the-start average would be ~500 000).
    expect(rates[19]).toBeGreaterThanOrEqual(900);
    expect(rates[19]).toBeLessThanOrEqual(1_100);
  });

  it('never flags when the floor is 0 (disabled), even for a stall', () => {
    const c = clock();
    const m = new SpeedMonitor(0, 1_000, c.now);
    c.advance(5_000);
    expect(m.sample().belowFloor).toBe(false);
  });
});
