import { DlrError } from '../errors.js';

/**
 * How many file-system calls to keep in flight. Each waits in libuv's thread
 * pool (4 threads unless UV_THREADPOOL_SIZE says otherwise); one at a time,
 * 100,000 `lstat`s spent most of a run idle between a reply and the next
 * call. 64 keeps the pool busy with room to spare and bounds the memory of
 * pending calls, whatever the history's length.
 */
export const FS_CONCURRENCY = 64;

/**
 * `fn` over every item with at most `limit` calls in flight; results in the
 * items' order. Each call is awaited, so the event loop turns between them
 * (a signal's handler runs); once `signal` aborts, no new call starts and the
 * whole map rejects with `interrupted`.
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  fn: (item: T, index: number) => Promise<R>,
  options: { readonly limit?: number; readonly signal?: AbortSignal } = {},
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      if (options.signal?.aborted) throw new DlrError('interrupted', 'interrupted');
      const index = next++;
      results[index] = await fn(items[index]!, index);
    }
  };
  const workers = Array.from({ length: Math.min(options.limit ?? FS_CONCURRENCY, items.length) }, worker);
  await Promise.all(workers);
  return results;
}
