import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { normalizeModelType } from '../domain/model-type.js';
import { MAX_CONNECTIONS, MAX_TIMER_MS, MIN_SPLIT_SIZE_BYTES } from '../options.js';
import type { OriginBudget } from '../limiter/types.js';
import { pathExists } from '../util/fs.js';
import { parseByteSize } from '../util/units.js';

/**
 * The config file, validated and converted to dlr's units (ms, bytes/s,
 * absolute paths). Produced by {@link loadConfig}.
 */
export interface LoadedConfig {
  /** The file used, or undefined when no file was found and everything is a default. */
  readonly path: string | undefined;
  /** Civitai API key: the file's `api_key`, else `CIVITAI_TOKEN`, else `CIVITAI_API_KEY`. */
  readonly apiKey: string | undefined;
  /** Hugging Face token: the file's `hf_token` (HF_TOKEN wins over it; the CLI also reads `hf auth login`'s file). */
  readonly hfToken: string | undefined;
  /** Download directory per dlr model type, absolute; always has `default`. Use {@link downloadDirFor}. */
  readonly downloadPaths: Readonly<Record<string, string>>;
  /** The history CSV, absolute. */
  readonly historyFile: string;
  /** Only the settings the file actually gave, already in dlr units; the caller merges flags over them and then defaults. */
  readonly policy: {
    readonly retryDelaysMs?: readonly number[];
    readonly speedFloorBytesPerSec?: number;
    readonly speedWindowMs?: number;
    /** `connections`: connections per large file (1–16). */
    readonly connections?: number;
    /** `min_split_size`: no range is split below this many bytes. */
    readonly minSplitSizeBytes?: number;
  };
  /** Pause after each successful download in a batch; undefined = not set in the file. */
  readonly sleepBetweenMs: number | undefined;
  /** Civitai's origin (`civitai.base_url`), for mirrors and tests. @default https://civitai.com */
  readonly civitaiBaseUrl: string;
  /** `ca_file`: PEM certificates to trust besides the system's (a private CA, a TLS-inspecting proxy), absolute. */
  readonly caFile: string | undefined;
  /** `origins`: per-origin budgets as given (keys are origins or `*`); merged over the built-ins by budgetResolver. */
  readonly origins: Readonly<Record<string, Partial<OriginBudget>>>;
  /** `jobs`: files in flight at once; undefined = not set in the file. */
  readonly jobs: number | undefined;
  /** `checkpoint_jobs`: checkpoints transferring at once; undefined = not set in the file. */
  readonly checkpointJobs: number | undefined;
  /** `limit_rate`: the whole run's download rate in bytes per second; undefined = not set. */
  readonly limitRateBytesPerSec: number | undefined;
  /** `metrics_file`: the Prometheus textfile each run rewrites, absolute; undefined = none. */
  readonly metricsFile: string | undefined;
  /** `notify_url`: the webhook POSTed at the end of a run; a secret (never in a message). */
  readonly notifyUrl: string | undefined;
  /** `notify_on`: `failure` (default) or `always`; undefined = not set in the file. */
  readonly notifyOn: 'failure' | 'always' | undefined;
  /** `coordinator.url`: a fleet's Redis (checked by src/fleet/coordinator-url.ts); undefined = not set. */
  readonly coordinatorUrl: string | undefined;
  /** `coordinator.lease_ttl_seconds` in ms; undefined = not set. */
  readonly leaseTtlMs: number | undefined;
}

/** Where to look for the file, and what to resolve relative names against. */
export interface LoadConfigOptions {
  /** `--config FILE`; must exist. */
  readonly explicitPath?: string;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

/** A config is a few hundred bytes; anything this big is the wrong file, and reading it whole would be wasteful. */
const MAX_CONFIG_BYTES = 1 << 20;

const TOP_KEYS = ['metrics_file', 'notify_url', 'notify_on', 'api_key', 'download_paths', 'rate_limit_settings', 'history_file', 'civitai', 'ca_file', 'origins', 'jobs', 'checkpoint_jobs', 'limit_rate', 'coordinator', 'connections', 'min_split_size', 'hf_token'];
const ORIGIN_KEYS = ['requests_per_minute', 'burst', 'max_connections', 'bytes_per_second'];
const CIVITAI_KEYS = ['base_url'];
const COORDINATOR_KEYS = ['url', 'lease_ttl_seconds'];
export const DEFAULT_CIVITAI_BASE_URL = 'https://civitai.com';
const RATE_KEYS = ['sleep_between_downloads', 'retry_delays', 'speed_threshold_kbps', 'slow_duration_threshold_seconds'];
/** Any lower-case type name is allowed, so a type added later (or one of the user's own) needs no code change. */
const TYPE_NAME = /^[A-Za-z][A-Za-z0-9 _-]*$/;

const DEFAULT_DIRS: Readonly<Record<string, string>> = {
  checkpoint: 'models/checkpoint',
  lora: 'models/lora',
  embedding: 'models/embedding',
  default: 'models/other',
};

/** `~` and `~/…` mean the home directory, as in a shell; JSON has no shell to expand them. */
function expandHome(path: string, env: NodeJS.ProcessEnv): string {
  if (path !== '~' && !path.startsWith('~/')) return path;
  return join(nonEmpty(env.HOME) ?? homedir(), path.slice(1));
}

/** Finds, reads and validates the config file; with no file, returns the defaults. */
export async function loadConfig(opts: LoadConfigOptions): Promise<LoadedConfig> {
  const cwd = resolve(opts.cwd);
  const path = await findConfigFile(opts.explicitPath, opts.env, cwd);
  const raw = path === undefined ? {} : parseTopLevel(path, await readConfigText(path));
  // Annotated so that `at.fail(...)` (returns never) narrows types, which TS does only for explicitly typed references.
  const at: KeyPath = new KeyPath(path);
  const baseDir = path === undefined ? cwd : dirname(path);

  const unknown = Object.keys(raw).find((k) => !TOP_KEYS.includes(k));
  if (unknown !== undefined) at.unknownKey(unknown, '', TOP_KEYS.join(', '));

  const downloadPaths: Record<string, string> = {};
  for (const [type, dir] of Object.entries(DEFAULT_DIRS)) downloadPaths[type] = resolve(baseDir, dir);
  if (raw.download_paths !== undefined) {
    const given = at.object(raw.download_paths, 'download_paths');
    const seen = new Map<string, string>();
    for (const [key, value] of Object.entries(given)) {
      if (!TYPE_NAME.test(key)) {
        at.unknownKey(key, 'download_paths', 'checkpoint, lora, embedding, default, or another type name');
      }
      // The same aliases as the history's model_type, so "Lora", "LoCon" or "TextualInversion" find their rows.
      const type = key === 'default' ? 'default' : normalizeModelType(key);
      const earlier = seen.get(type);
      if (earlier !== undefined) at.fail(`download_paths.${key}`, `names the same type (${type}) as download_paths.${earlier}`);
      seen.set(type, key);
      downloadPaths[type] = resolve(baseDir, expandHome(at.path(value, `download_paths.${key}`), opts.env));
    }
  }

  const historyFile = resolve(
    baseDir,
    raw.history_file === undefined ? 'download_history.csv' : expandHome(at.path(raw.history_file, 'history_file'), opts.env),
  );

  const policy: { retryDelaysMs?: readonly number[]; speedFloorBytesPerSec?: number; speedWindowMs?: number; connections?: number; minSplitSizeBytes?: number } = {};
  if (raw.connections !== undefined) {
    policy.connections = at.count(raw.connections, 'connections', 1);
    if (policy.connections > MAX_CONNECTIONS) at.fail('connections', `must be at most ${MAX_CONNECTIONS} (as aria2 allows per server), got ${policy.connections}`);
  }
  if (raw.min_split_size !== undefined) {
    // A size in bytes or with a unit ("20MiB"); rate() reads both forms.
    policy.minSplitSizeBytes = at.rate(raw.min_split_size, 'min_split_size');
    if (policy.minSplitSizeBytes < MIN_SPLIT_SIZE_BYTES) at.fail('min_split_size', `must be at least 64KiB, got ${describe(raw.min_split_size)}`);
  }
  let sleepBetweenMs: number | undefined;
  if (raw.rate_limit_settings !== undefined) {
    const rate = at.object(raw.rate_limit_settings, 'rate_limit_settings');
    const unknownRate = Object.keys(rate).find((k) => !RATE_KEYS.includes(k));
    if (unknownRate !== undefined) at.unknownKey(unknownRate, 'rate_limit_settings', RATE_KEYS.join(', '));
    if (rate.sleep_between_downloads !== undefined) {
      sleepBetweenMs = at.seconds(rate.sleep_between_downloads, 'rate_limit_settings.sleep_between_downloads');
    }
    if (rate.retry_delays !== undefined) {
      const list = rate.retry_delays;
      if (!Array.isArray(list)) at.fail('rate_limit_settings.retry_delays', `must be a list of seconds, got ${describe(list)}`);
      policy.retryDelaysMs = Object.freeze(
        list.map((d: unknown, i: number) => at.seconds(d, `rate_limit_settings.retry_delays[${i}]`)),
      );
    }
    if (rate.speed_threshold_kbps !== undefined) {
      const kib = at.number(rate.speed_threshold_kbps, 'rate_limit_settings.speed_threshold_kbps', 0, 'KiB/s');
      // The seed's SPEED_THRESHOLD = 10 * 1024: its "kbps" was KiB/s all along.
      policy.speedFloorBytesPerSec = Math.round(kib * 1024);
    }
    if (rate.slow_duration_threshold_seconds !== undefined) {
      // The speed floor needs a window of at least 1 ms to measure anything.
      policy.speedWindowMs = at.seconds(rate.slow_duration_threshold_seconds, 'rate_limit_settings.slow_duration_threshold_seconds', 0.001);
    }
  }

  let civitaiBaseUrl = DEFAULT_CIVITAI_BASE_URL;
  if (raw.civitai !== undefined) {
    const civitai = at.object(raw.civitai, 'civitai');
    const unknownCivitai = Object.keys(civitai).find((k) => !CIVITAI_KEYS.includes(k));
    if (unknownCivitai !== undefined) at.unknownKey(unknownCivitai, 'civitai', CIVITAI_KEYS.join(', '));
    if (civitai.base_url !== undefined) civitaiBaseUrl = at.httpUrl(civitai.base_url, 'civitai.base_url');
  }

  const origins: Record<string, Partial<OriginBudget>> = {};
  if (raw.origins !== undefined) {
    const table = at.object(raw.origins, 'origins');
    for (const [key, value] of Object.entries(table)) {
      const origin = key === '*' ? '*' : at.httpUrl(key, `origins key ${JSON.stringify(key)}`);
      const entry = at.object(value, `origins.${key}`);
      const unknown = Object.keys(entry).find((k) => !ORIGIN_KEYS.includes(k));
      if (unknown !== undefined) at.unknownKey(unknown, `origins.${key}`, ORIGIN_KEYS.join(', '));
      const budget: { -readonly [K in keyof OriginBudget]?: OriginBudget[K] } = {};
      if (entry.requests_per_minute !== undefined) budget.requestsPerMinute = at.number(entry.requests_per_minute, `origins.${key}.requests_per_minute`, 0, 'requests per minute, 0 = no limit');
      if (entry.burst !== undefined) budget.burst = at.count(entry.burst, `origins.${key}.burst`, 0);
      if (entry.max_connections !== undefined) budget.maxConnections = at.count(entry.max_connections, `origins.${key}.max_connections`, 0);
      if (entry.bytes_per_second !== undefined) budget.bytesPerSecond = at.rate(entry.bytes_per_second, `origins.${key}.bytes_per_second`);
      origins[origin] = { ...origins[origin], ...budget };
    }
  }
  const jobs = raw.jobs === undefined ? undefined : at.count(raw.jobs, 'jobs', 1);
  const checkpointJobs = raw.checkpoint_jobs === undefined ? undefined : at.count(raw.checkpoint_jobs, 'checkpoint_jobs', 1);
  const limitRateBytesPerSec = raw.limit_rate === undefined ? undefined : at.rate(raw.limit_rate, 'limit_rate');
  let coordinatorUrl: string | undefined;
  let leaseTtlMs: number | undefined;
  if (raw.coordinator !== undefined) {
    const coordinator = at.object(raw.coordinator, 'coordinator');
    const unknownKey = Object.keys(coordinator).find((k) => !COORDINATOR_KEYS.includes(k));
    if (unknownKey !== undefined) at.unknownKey(unknownKey, 'coordinator', COORDINATOR_KEYS.join(', '));
    // Never quoted in a message: it may hold the Redis password.
    if (coordinator.url !== undefined && typeof coordinator.url !== 'string') at.fail('coordinator.url', 'must be a redis:// URL string');
    coordinatorUrl = nonEmpty(coordinator.url as string | undefined);
    // At least a second: a renewal every third of it must have time to reach Redis.
    if (coordinator.lease_ttl_seconds !== undefined) leaseTtlMs = at.seconds(coordinator.lease_ttl_seconds, 'coordinator.lease_ttl_seconds', 1);
  }

  const metricsFile = raw.metrics_file === undefined ? undefined : resolve(baseDir, expandHome(at.path(raw.metrics_file, 'metrics_file'), opts.env));
  const notifyUrl = raw.notify_url === undefined ? undefined : at.secretHttpUrl(raw.notify_url, 'notify_url');
  if (raw.notify_on !== undefined && raw.notify_on !== 'failure' && raw.notify_on !== 'always') {
    at.fail('notify_on', `must be "failure" or "always", got ${describe(raw.notify_on)}`);
  }
  const notifyOn = raw.notify_on as 'failure' | 'always' | undefined;

  const caFile = raw.ca_file === undefined ? undefined : resolve(baseDir, expandHome(at.path(raw.ca_file, 'ca_file'), opts.env));

  const apiKey =
    (raw.api_key === undefined ? undefined : at.apiKey(raw.api_key)) ??
    nonEmpty(opts.env.CIVITAI_TOKEN) ??
    nonEmpty(opts.env.CIVITAI_API_KEY);

  const hfToken = raw.hf_token === undefined ? undefined : at.apiKey(raw.hf_token, 'hf_token');

  return Object.freeze({
    path,
    apiKey,
    hfToken,
    downloadPaths: Object.freeze(downloadPaths),
    historyFile,
    caFile,
    origins: Object.freeze(origins),
    jobs,
    checkpointJobs,
    limitRateBytesPerSec,
    metricsFile,
    notifyUrl,
    notifyOn,
    coordinatorUrl,
    leaseTtlMs,
    policy: Object.freeze(policy),
    sleepBetweenMs,
    civitaiBaseUrl,
  });
}

/** The download directory for a dlr model type, or the `default` one for a type without its own. */
export function downloadDirFor(config: LoadedConfig, type: string): string {
  // hasOwn, not `??`: a type named like an Object.prototype member must not find that member.
  const dirs = config.downloadPaths;
  return Object.hasOwn(dirs, type) ? (dirs[type] as string) : (dirs.default as string);
}

async function findConfigFile(explicitPath: string | undefined, env: NodeJS.ProcessEnv, cwd: string): Promise<string | undefined> {
  if (explicitPath !== undefined) return mustExist(explicitPath, cwd, '--config');
  const fromEnv = nonEmpty(env.DLR_CONFIG);
  if (fromEnv !== undefined) return mustExist(fromEnv, cwd, 'DLR_CONFIG');
  const local = join(cwd, 'dlr.config.json');
  if (await pathExists(local)) return local;
  // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  const xdgHome = nonEmpty(env.XDG_CONFIG_HOME);
  const configHome = xdgHome !== undefined && isAbsolute(xdgHome) ? xdgHome : join(nonEmpty(env.HOME) ?? homedir(), '.config');
  const xdg = join(configHome, 'dlr', 'config.json');
  return (await pathExists(xdg)) ? xdg : undefined;
}

async function mustExist(given: string, cwd: string, source: string): Promise<string> {
  if (given === '') throw new ConfigError(`config: ${source} was given an empty path`);
  const path = resolve(cwd, given);
  if (!(await pathExists(path))) throw new ConfigError(`config ${path}: file not found (given by ${source})`);
  return path;
}

async function readConfigText(path: string): Promise<string> {
  let text: string;
  try {
    // stat before reading: a directory or FIFO would fail or block, and a huge file is refused unread.
    const info = await stat(path);
    if (info.isDirectory()) throw new ConfigError(`config ${path}: is a directory, not a file`);
    if (!info.isFile()) throw new ConfigError(`config ${path}: is not a regular file`);
    if (info.size > MAX_CONFIG_BYTES) {
      throw new ConfigError(`config ${path}: file is ${info.size} bytes, larger than the 1 MiB limit; is it the right file?`);
    }
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as { code?: unknown }).code;
    throw new ConfigError(`config ${path}: cannot read: ${typeof code === 'string' ? code : String(error)}`);
  }
  // Editors on Windows often save JSON with a BOM, which JSON.parse rejects.
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function parseTopLevel(path: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    // Never echo V8's message as is: some versions quote the surrounding text, which may hold the API key.
    const message = error instanceof Error ? error.message : '';
    const position = /at position (\d+)/.exec(message);
    let where = '';
    if (position) {
      const before = text.slice(0, Number(position[1])).split('\n');
      where = ` at line ${before.length} column ${(before.at(-1) ?? '').length + 1}`;
    } else if (/end of JSON input/.test(message)) {
      where = ': unexpected end of file';
    }
    throw new ConfigError(`config ${path}: invalid JSON${where}`);
  }
  if (!isPlainObject(value)) {
    throw new ConfigError(`config ${path}: the top level must be a JSON object, got ${describe(value)}`);
  }
  return value;
}

/** Checks one value at a key path, throwing a one-line ConfigError that names the file and the key. */
class KeyPath {
  constructor(private readonly file: string | undefined) {}

  fail(key: string, problem: string): never {
    throw new ConfigError(`config ${this.file ?? '(none)'}: ${key} ${problem}`);
  }

  unknownKey(key: string, parent: string, allowed: string): never {
    const where = parent === '' ? '' : ` in ${parent}`;
    throw new ConfigError(`config ${this.file ?? '(none)'}: unknown key ${JSON.stringify(key)}${where} (allowed: ${allowed})`);
  }

  object(value: unknown, key: string): Record<string, unknown> {
    if (!isPlainObject(value)) this.fail(key, `must be an object, got ${describe(value)}`);
    return value;
  }

  path(value: unknown, key: string): string {
    if (typeof value !== 'string' || value.trim() === '') this.fail(key, `must be a non-empty path, got ${describe(value)}`);
    if (value.includes('\0')) this.fail(key, 'must not contain a NUL character');
    return value;
  }

  number(value: unknown, key: string, min: number, unit: string): number {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
      this.fail(key, `must be a number >= ${min} (${unit}), got ${describe(value)}`);
    }
    return value;
  }

  /** A whole number >= min. */
  count(value: unknown, key: string, min: number): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) this.fail(key, `must be a whole number >= ${min}, got ${describe(value)}`);
    return value;
  }

  /** Bytes per second: a number, or a size such as "20MiB" (per second); 0 = no limit. */
  rate(value: unknown, key: string): number {
    if (typeof value === 'number') return this.number(value, key, 0, 'bytes per second');
    const bytes = typeof value === 'string' ? parseByteSize(value) : undefined;
    if (bytes === undefined) this.fail(key, `must be bytes per second, a number or a size such as "20MiB", got ${describe(value)}`);
    return bytes;
  }

  /** Seconds in the file, ms in dlr; capped at setTimeout's ceiling, beyond which a wait would fire at once. */
  seconds(value: unknown, key: string, min = 0): number {
    const ms = Math.round(this.number(value, key, min, 'seconds') * 1000);
    if (ms > MAX_TIMER_MS) this.fail(key, `must be at most ${MAX_TIMER_MS / 1000} (seconds, about 24.8 days), got ${describe(value)}`);
    return ms;
  }

  /** The key's value is never put in a message: messages end up in logs and cron mail. */
  /** An http(s) origin such as `https://civitai.com`; returned without a trailing slash. */
  httpUrl(value: unknown, key: string): string {
    let url: URL | undefined;
    try {
      url = typeof value === 'string' ? new URL(value) : undefined;
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      this.fail(key, `must be an http(s) URL, got ${describe(value)}`);
    }
    return url.origin;
  }

  /** An http(s) URL kept whole (a webhook: its path is its secret, so the value is never quoted). */
  secretHttpUrl(value: unknown, key: string): string {
    let ok = false;
    try {
      ok = typeof value === 'string' && /^https?:$/.test(new URL(value).protocol);
    } catch {
      ok = false;
    }
    if (!ok) this.fail(key, `must be an http(s) URL, got ${describe(value, { redact: true })}`);
    return value as string;
  }

  apiKey(value: unknown, key = 'api_key'): string | undefined {
    if (typeof value !== 'string') this.fail(key, `must be a string, got ${describe(value, { redact: true })}`);
    // A template's `"api_key": ""` means "not set here", so the environment still applies.
    return nonEmpty(value.trim());
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** A short, one-line rendering of a bad value for an error message. */
function describe(value: unknown, { redact = false } = {}): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  if (redact) return `a ${typeof value}`;
  if (typeof value === 'string') {
    const quoted = JSON.stringify(value);
    return quoted.length > 60 ? `${quoted.slice(0, 57)}..."` : quoted;
  }
  // String(), not JSON.stringify: 1e999 parses to Infinity, which JSON.stringify would show as null.
  return String(value);
}
