/**
 * Runs a plan's entries with at most `jobs` in flight, starting them in plan
 * order, with at most `heavyJobs` heavy ones (checkpoints) at once: when the
 * next entry is heavy and the heavy slots are taken, the first lighter entry
 * after it starts instead, so LoRAs and embeddings fill the other slots while
 * the big files keep the bandwidth the seed gave them. With `jobs` 1 it is
 * a plain loop in plan order.
 *
 * Once the signal aborts, nothing new starts; entries in flight finish (their
 * own transfers see the same signal) and the ones never started are returned.
 */
export interface ScheduleOptions<T> {
  readonly items: readonly T[];
  readonly jobs: number;
  readonly isHeavy: (item: T) => boolean;
  readonly heavyJobs: number;
  readonly signal?: AbortSignal;
  /** Runs one entry; must not throw (a failure is the entry's result). */
  readonly run: (item: T, index: number) => Promise<void>;
}

export async function schedule<T>(options: ScheduleOptions<T>): Promise<{ readonly notStarted: readonly number[] }> {
  const { items, isHeavy, signal } = options;
  const jobs = Math.max(1, options.jobs);
  const heavyJobs = Math.max(1, options.heavyJobs);
  // Two queues in plan order with head pointers: picking the next entry is O(1) (a 100k-row plan).
  const heavy: number[] = [];
  const light: number[] = [];
  items.forEach((item, i) => (isHeavy(item) ? heavy : light).push(i));
  let heavyAt = 0;
  let lightAt = 0;
  let running = 0;
  let heavyRunning = 0;
  const remaining = () => heavy.length - heavyAt + (light.length - lightAt);
  const next = (): { index: number; heavy: boolean } | undefined => {
    const h = heavyRunning < heavyJobs && heavyAt < heavy.length ? heavy[heavyAt] : undefined;
    const l = lightAt < light.length ? light[lightAt] : undefined;
    if (h !== undefined && (l === undefined || h < l)) {
      heavyAt++;
      return { index: h, heavy: true };
    }
    if (l === undefined) return undefined;
    lightAt++;
    return { index: l, heavy: false };
  };
  return new Promise((resolve) => {
    let done = false;
    const finishIfDone = () => {
      if (done || running > 0) return;
      if (remaining() === 0 || signal?.aborted) {
        done = true;
        const notStarted = [...heavy.slice(heavyAt), ...light.slice(lightAt)].sort((a, b) => a - b);
        resolve({ notStarted });
      }
    };
    const pump = () => {
      while (running < jobs && !signal?.aborted) {
        const pick = next();
        if (pick === undefined) break;
        running++;
        if (pick.heavy) heavyRunning++;
        void options.run(items[pick.index]!, pick.index).finally(() => {
          running--;
          if (pick.heavy) heavyRunning--;
          pump();
        });
      }
      finishIfDone();
    };
    signal?.addEventListener('abort', () => finishIfDone(), { once: true });
    pump();
  });
}
