import type { BudgetFor, OriginBudget } from './types.js';

/**
 * Built-in budgets, for the real sites only (a mirror or a test stand-in
 * under another origin gets the `*` default):
 * - huggingface.co: the Hub's published limits for anonymous users are 500
 *   API calls and 3,000 resolver calls per 5-minute window per IP (hub-docs
 *   `rate-limits.md`; its `RateLimit-Policy` header says the same). dlr's
 *   calls are both kinds on one origin, so the stricter one is the budget:
 *   100 a minute, 10 at once.
 * - civitai.com: Civitai publishes no number; its download route answers 429
 *   per user without Retry-After and its docs advise backing off 1–30 s. One
 *   request a second with a burst of 5 and 4 connections is a polite client.
 * - everything else: no request budget, 16 connections (aria2's cap per server).
 */
export const BUILT_IN_BUDGETS: Readonly<Record<string, Partial<OriginBudget>>> = {
  '*': { requestsPerMinute: 0, burst: 0, maxConnections: 16, bytesPerSecond: 0 },
  'https://huggingface.co': { requestsPerMinute: 100, burst: 10, maxConnections: 8 },
  'https://civitai.com': { requestsPerMinute: 60, burst: 5, maxConnections: 4 },
};

/**
 * The budget of each origin: built-in `*`, then the built-in entry for the
 * origin, then the config's `*`, then the config's entry (each key from the
 * last that sets it), so whatever the user writes wins.
 */
export function budgetResolver(configured: Readonly<Record<string, Partial<OriginBudget>>> = {}): BudgetFor {
  const cache = new Map<string, OriginBudget>();
  return (origin) => {
    let budget = cache.get(origin);
    if (budget === undefined) {
      budget = {
        ...(BUILT_IN_BUDGETS['*'] as OriginBudget),
        ...BUILT_IN_BUDGETS[origin],
        ...configured['*'],
        ...configured[origin],
      };
      cache.set(origin, budget);
    }
    return budget;
  };
}
