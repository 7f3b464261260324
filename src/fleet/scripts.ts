import { luaScript } from './coordinator.js';

/**
 * dlr's Lua scripts: each decision is one script, so it is atomic in Redis,
 * and every time in it is Redis's own clock (`TIME`), never a member's: a
 * fleet whose machines disagree about the time still shares one budget.
 * Numbers travel as strings (Redis would truncate a Lua float reply).
 */

/** Redis's clock in milliseconds, as the first lines of every script that needs one. */
const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * One request's turn. KEYS: tat, pause, learned. ARGV: requests per
 * minute (0 = none), burst.
 * Returns {'paused', ms left, learned} without reserving anything while the
 * origin is paused; else {'go', ms to wait, learned} with the request
 * already counted. The GCRA arithmetic is src/limiter/gcra.ts's, line for
 * line (a learned rate allows a burst of 1, as in memory-limiter.ts).
 */
export const DECIDE = luaScript(
  'decide',
  `${NOW}
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
local learned = tonumber(redis.call('GET', KEYS[3]) or '-1')
if paused > now then return {'paused', tostring(paused - now), tostring(learned)} end
local rpm = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
if learned > 0 then
  rpm = learned
  burst = math.min(burst, 1)
end
if rpm <= 0 then return {'go', '0', tostring(learned)} end
local interval = 60000 / rpm
burst = math.max(1, burst)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local nxt = math.max(tat, now) + interval
local wait = math.max(0, nxt - burst * interval - now)
redis.call('SET', KEYS[1], string.format('%.3f', nxt), 'PX', math.ceil(nxt - now) + 60000)
return {'go', string.format('%.3f', wait), tostring(learned)}
`,
);

/** Milliseconds the origin stays paused (0 = not paused). KEYS: pause. */
export const PAUSE_LEFT = luaScript(
  'pause-left',
  `${NOW}
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
return tostring(math.max(0, paused - now))
`,
);

/**
 * A 429/503 (or a spent RateLimit window): pause the origin for every
 * member, and, for a throttling answer, halve the shared learned rate —
 * once per pause, as the in-process limiter does (the other 429s of that
 * moment answer requests sent before the cut).
 * KEYS: pause, learned, hold. ARGV: pause ms, the rate to halve when none is
 * learned yet (0 = none known), 1 to adjust the rate / 0 to pause only.
 * Returns {1 if this call moved the pause later else 0, learned or -1}.
 */
export const THROTTLED = luaScript(
  'throttled',
  `${NOW}
local ms = tonumber(ARGV[1])
local untilMs = now + ms
local extended = 0
if untilMs > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], tostring(untilMs), 'PX', math.ceil(ms) + 1000)
  extended = 1
end
local learned = tonumber(redis.call('GET', KEYS[2]) or '-1')
if ARGV[3] == '1' and now >= tonumber(redis.call('GET', KEYS[3]) or '0') then
  local base = learned
  if base <= 0 then base = tonumber(ARGV[2]) end
  if base > 0 then
    learned = math.max(1, base / 2)
    redis.call('SET', KEYS[2], string.format('%.3f', learned), 'EX', 604800)
  end
  local hold = math.max(ms, 1000)
  redis.call('SET', KEYS[3], tostring(now + hold), 'PX', math.ceil(hold))
end
return {tostring(extended), tostring(learned)}
`,
);

/**
 * A success: additive increase of the shared learned rate, forgotten once
 * it reaches the ceiling. KEYS: learned. ARGV: ceiling. Returns the new rate or -1.
 */
export const SUCCEEDED = luaScript(
  'succeeded',
  `
local learned = tonumber(redis.call('GET', KEYS[1]) or '-1')
if learned <= 0 then return '-1' end
learned = learned + 1
if learned >= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return '-1'
end
redis.call('SET', KEYS[1], string.format('%.3f', learned), 'KEEPTTL')
return string.format('%.3f', learned)
`,
);

/**
 * Takes a file's lease: `SET NX PX` and a fencing token from `INCR` on one
 * counter, in one script, so a token is never given out without its lease.
 * The counter is raised past ARGV[4] first (the highest token a part's
 * sidecar records), so tokens keep going up even after Redis lost its data.
 * The value is `token|fence|holder info`.
 * KEYS: lease, fence counter. ARGV: token, ttl ms, holder info, floor.
 * Returns {1, fence} granted, or {0, ms left, value} held by another.
 */
export const ACQUIRE = luaScript(
  'lease-acquire',
  `
local held = redis.call('GET', KEYS[1])
if held then return {0, redis.call('PTTL', KEYS[1]), held} end
local floor = tonumber(ARGV[4])
if tonumber(redis.call('GET', KEYS[2]) or '0') < floor then redis.call('SET', KEYS[2], floor) end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. fence .. '|' .. ARGV[3], 'NX', 'PX', ARGV[2])
return {1, fence}
`,
);

/** Extends a lease still ours. KEYS: lease. ARGV: token, ttl ms. Returns 1, or 0 when it is gone or another's. */
export const RENEW = luaScript(
  'lease-renew',
  `
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, #ARGV[1] + 1) == ARGV[1] .. '|' then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`,
);

/** Compare-and-delete: removes the lease only if it is still ours. KEYS: lease. ARGV: token. */
export const RELEASE = luaScript(
  'lease-release',
  `
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, #ARGV[1] + 1) == ARGV[1] .. '|' then
  return redis.call('DEL', KEYS[1])
end
return 0
`,
);

/** Redis's clock in ms, for `fleet status`. */
export const CLOCK = luaScript('clock', `${NOW}\nreturn tostring(now)\n`);
