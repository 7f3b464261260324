import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { createHttpClient } from '../http/client.js';
import { budgetResolver } from '../limiter/budgets.js';
import type { MemoryLimiterOptions, OriginEvent } from '../limiter/memory-limiter.js';
import type { BudgetFor } from '../limiter/types.js';
import { parseCoordinatorUrl } from '../fleet/coordinator-url.js';
import type { FleetSettings } from '../fleet/fleet.js';
import type { NetworkOptions } from '../http/dispatcher.js';
import { downloadDirFor, loadConfig, type LoadedConfig } from '../config/load-config.js';
import { UsageError } from '../errors.js';
import { DEFAULT_PAUSE_BETWEEN_MS, resolvePolicy, type DownloadPolicy, type ResolvedPolicy } from '../options.js';
import { parseByteSize, parseSeconds } from '../util/units.js';
import type { RunSettings } from '../app/settings.js';
import type { CliIo } from './io.js';
import { policyFromFlags, type PolicyFlags } from './parse-flags.js';
import { verboseExchangeLog } from './verbose-log.js';

/** Flags every history-aware command shares. */
export interface ContextFlags extends PolicyFlags {
  readonly config?: string;
  readonly history?: string;
  readonly sleep?: string;
  readonly jobs?: string;
  readonly limitRate?: string;
  /** `--coordinator redis://…`: join a fleet (redownload). */
  readonly coordinator?: string;
  /** `-v`: every request and answer on stderr, credentials masked. */
  readonly verbose?: boolean;
  /** `--user-agent`: instead of dlr's own on every request. */
  readonly userAgent?: string;
}

/** `coordinator.lease_ttl_seconds`: how long a dead member's files stay leased. */
export const DEFAULT_LEASE_TTL_MS = 30_000;

/** Defaults of the scheduler: four files in flight, one of them a checkpoint. */
export const DEFAULT_JOBS = 4;
export const DEFAULT_CHECKPOINT_JOBS = 1;

/** What a command needs after config and flags are merged: flags win over the config file, which wins over defaults. */
export interface RunContext extends RunSettings {
  readonly config: LoadedConfig;
  /** TLS trust and proxy environment for the run's dispatcher. */
  readonly network: NetworkOptions;
}

export async function loadRunContext(flags: ContextFlags, io: CliIo): Promise<RunContext> {
  const cwd = process.cwd();
  const config = await loadConfig({ explicitPath: flags.config, env: io.env, cwd });
  const fromFlags = withoutUndefined(policyFromFlags(flags));
  const policy = resolvePolicy({ ...config.policy, ...fromFlags });
  let pauseBetweenMs = config.sleepBetweenMs ?? DEFAULT_PAUSE_BETWEEN_MS;
  if (flags.sleep !== undefined) {
    const ms = parseSeconds(flags.sleep);
    if (ms === undefined) throw new UsageError(`--sleep takes seconds (decimals allowed), got '${flags.sleep}'`);
    pauseBetweenMs = ms;
  }
  const jobs = flags.jobs === undefined ? (config.jobs ?? DEFAULT_JOBS) : wholeNumber('--jobs', flags.jobs, 1);
  let limitRate = config.limitRateBytesPerSec;
  if (flags.limitRate !== undefined) {
    limitRate = parseByteSize(flags.limitRate);
    if (limitRate === undefined) throw new UsageError(`--limit-rate takes a rate such as 500K or 20MiB, got '${flags.limitRate}'`);
  }
  const userAgent = flags.userAgent;
  // It becomes a header: one line of printable text, or a clear error now rather than a failed request later.
  if (userAgent !== undefined && !/^[\x20-\x7e]{1,512}$/.test(userAgent)) throw new UsageError('--user-agent takes one line of printable ASCII (at most 512 characters)');
  const caFile = flags.cacert !== undefined ? resolve(cwd, flags.cacert) : config.caFile;
  const context: RunContext = {
    config,
    policy,
    network: { env: io.env, ...(caFile === undefined ? {} : { extraCaPem: await readCaFile(caFile, flags.cacert !== undefined ? '--cacert' : 'ca_file') }) },
    historyPath: flags.history !== undefined ? resolve(cwd, flags.history) : config.historyFile,
    pauseBetweenMs,
    sources: {
      civitaiBaseUrl: config.civitaiBaseUrl,
      civitaiApiKey: config.apiKey,
      // As huggingface_hub: HF_ENDPOINT moves the hub, HF_TOKEN authenticates to it.
      hfEndpoint: nonEmpty(io.env.HF_ENDPOINT) ?? 'https://huggingface.co',
      // HF_TOKEN, then the config's hf_token, then the file `hf auth login` wrote.
      hfToken: nonEmpty(io.env.HF_TOKEN) ?? config.hfToken ?? (await readHfTokenFile(io.env)),
    },
    downloadDirs: Object.values(config.downloadPaths),
    jobs,
    checkpointJobs: config.checkpointJobs ?? DEFAULT_CHECKPOINT_JOBS,
    dirFor: (type) => downloadDirFor(config, type),
    fleet: fleetSettings(flags.coordinator, config, io.env),
    openClient: ({ fleet, ...options } = {}) => {
      const budgetFor = budgetResolver(config.origins);
      return createHttpClient({
        policy,
        network: context.network,
        origins: config.origins,
        ...(limitRate !== undefined ? { limitRateBytesPerSec: limitRate } : {}),
        ...(userAgent !== undefined ? { userAgent } : {}),
        ...(flags.verbose ? { onExchange: verboseExchangeLog(io) } : {}),
        ...options,
        // A fleet's limiter gets what the in-process one would (limiterOptionsFor), and shares the request budget.
        ...(fleet ? { limiter: fleet.limiter(limiterOptionsFor(policy, budgetFor, limitRate, options.onOriginEvent)) } : {}),
      });
    },
  };
  return context;
}

/** A token is some 40 characters; a bigger file is not the one `hf auth login` writes. */
const MAX_TOKEN_FILE_BYTES = 4096;

/**
 * The token `hf auth login` saved, as huggingface_hub finds it: `HF_TOKEN_PATH`,
 * else `$HF_HOME/token`, else `$XDG_CACHE_HOME/huggingface/token`, else
 * `~/.cache/huggingface/token`. HF_TOKEN wins over it (the caller asks here
 * only without one). A missing or unreadable file is no token.
 */
async function readHfTokenFile(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const home = nonEmpty(env.HOME) ?? homedir();
  const hfHome = nonEmpty(env.HF_HOME) ?? join(nonEmpty(env.XDG_CACHE_HOME) ?? join(home, '.cache'), 'huggingface');
  const path = nonEmpty(env.HF_TOKEN_PATH) ?? join(hfHome, 'token');
  try {
    const data = await readFile(path);
    if (data.length > MAX_TOKEN_FILE_BYTES) return undefined;
    const token = nonEmpty(data.toString('utf8'));
    // One line of printable ASCII, or it is not a token (and must not become a header).
    return token !== undefined && /^[\x21-\x7e]+$/.test(token) ? token : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The coordinator from `--coordinator`, else `DLR_COORDINATOR`, else the
 * config's `coordinator.url`; none: no fleet. Checked now (exit 2 for a
 * malformed URL), connected only when the run starts fetching.
 */
function fleetSettings(flag: string | undefined, config: LoadedConfig, env: NodeJS.ProcessEnv): FleetSettings | undefined {
  const [text, from] =
    flag !== undefined ? [flag, '--coordinator'] : nonEmpty(env.DLR_COORDINATOR) !== undefined ? [env.DLR_COORDINATOR!, 'DLR_COORDINATOR'] : [config.coordinatorUrl, 'coordinator.url'];
  if (text === undefined) return undefined;
  const offset = Number(env.DLR_TEST_CLOCK_OFFSET_MS ?? 0);
  return {
    address: parseCoordinatorUrl(text, from),
    leaseTtlMs: config.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS,
    // For tests only: this member's wall clock skewed, to show the fleet does not depend on it.
    ...(Number.isFinite(offset) && offset !== 0 ? { wallClock: () => Date.now() + offset } : {}),
  };
}

/** The options createHttpClient gives its in-process limiter, for a fleet's limiter to be built from the same. */
function limiterOptionsFor(
  policy: ResolvedPolicy,
  budgetFor: BudgetFor,
  limitRate: number | undefined,
  onOriginEvent: ((event: OriginEvent) => void) | undefined,
): Omit<MemoryLimiterOptions, 'learned'> {
  return {
    budgetFor,
    ...(limitRate !== undefined ? { limitRateBytesPerSec: limitRate } : {}),
    pauseWithoutHeaderMs: policy.retryDelaysMs[0] ?? 1_000,
    maxPauseMs: policy.maxRetryAfterMs,
    unreachableDelaysMs: policy.retryDelaysMs,
    ...(onOriginEvent ? { onOriginEvent } : {}),
  };
}

function wholeNumber(flag: string, text: string, min: number): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag} takes a whole number >= ${min}, got '${text}'`);
  return n;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function withoutUndefined(policy: DownloadPolicy): DownloadPolicy {
  return Object.fromEntries(Object.entries(policy).filter(([, v]) => v !== undefined)) as DownloadPolicy;
}

/** A CA bundle is a few KiB; this cap keeps a wrong path (a model file) from being read whole. */
const MAX_CA_BYTES = 4 * 1024 * 1024;

async function readCaFile(path: string, origin: string): Promise<string> {
  let text: string;
  try {
    const data = await readFile(path);
    if (data.length > MAX_CA_BYTES) throw new UsageError(`${origin}: ${path} is too large to be a CA bundle`);
    text = data.toString('utf8');
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`${origin}: cannot read ${path}: ${(error as { code?: string }).code ?? String(error)}`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`${origin}: ${path} holds no PEM certificate`);
  return text;
}
