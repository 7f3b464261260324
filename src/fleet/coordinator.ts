import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { DlrError } from '../errors.js';
import type { CoordinatorAddress } from './coordinator-url.js';

/**
 * The connection to a fleet's Redis: one client per run, scripts run by
 * EVALSHA (EVAL once when the server does not know them yet), and one
 * `lost` signal that fires the first time Redis fails to answer.
 *
 * Losing the coordinator is final for the run, on purpose: a member that
 * cannot reach Redis can neither renew its leases nor draw from the shared
 * budget, so it takes no new file and stops the transfers in flight (their
 * parts are kept), and the run ends with exit 75 for cron to try later.
 * Hence no reconnect and no offline queue: a command either reaches Redis
 * now or fails at once (node-redis would otherwise queue it until Redis
 * came back, and the limiter would wait silently).
 */
export interface Coordinator {
  readonly address: CoordinatorAddress;
  /** This process in the fleet: `host:pid:random`, shown by `dlr fleet status`. */
  readonly member: string;
  /** Aborted when Redis is lost; `lostError` says why. */
  readonly lost: AbortSignal;
  lostError(): DlrError | undefined;
  /** Runs one of dlr's Lua scripts (see scripts.ts); a failure marks the coordinator lost. */
  run(script: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown>;
  /** A plain command, for `fleet status` (SCAN, GET, PTTL, TIME). */
  command(args: readonly string[]): Promise<unknown>;
  close(): Promise<void>;
}

export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

export function luaScript(name: string, source: string): LuaScript {
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

export interface OpenOptions {
  /** How long connecting (TCP, TLS, AUTH, SELECT, PING) may take. */
  readonly connectTimeoutMs?: number;
  /**
   * Longest wait for one answer: past it Redis counts as lost. It bounds
   * only the waits of requests about to start and of lease renewals, never
   * a transfer already running (those do not ask Redis per chunk).
   */
  readonly commandTimeoutMs?: number;
}

interface MinimalClient {
  connect(): Promise<unknown>;
  sendCommand(args: readonly string[], options?: { timeout?: number }): Promise<unknown>;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  destroy(): void;
  close?(): Promise<unknown>;
  isOpen: boolean;
}

/**
 * Connects and checks Redis answers. Unreachable, refused, bad password:
 * a `locked` DlrError (exit 75, "try again later") naming the coordinator,
 * never its password, and nothing has been fetched yet.
 */
export async function openCoordinator(address: CoordinatorAddress, options: OpenOptions = {}): Promise<Coordinator> {
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  const commandTimeoutMs = options.commandTimeoutMs ?? 10_000;
  // Loaded only for a fleet run: a plain run does not pay for the client's start-up.
  const { createClient } = await import('redis');
  const client = createClient({
    url: address.url,
    disableOfflineQueue: true,
    socket: { connectTimeout: connectTimeoutMs, reconnectStrategy: false },
  }) as unknown as MinimalClient;
  const controller = new AbortController();
  let lostError: DlrError | undefined;
  let connected = false;
  const markLost = (cause: unknown): DlrError => {
    if (lostError === undefined) {
      lostError = new DlrError('locked', `lost the coordinator ${address.shown} (${reason(cause)}); parts are kept, try again later`, { cause });
      controller.abort(lostError);
    }
    return lostError;
  };
  // The client reports a dropped socket here; without a listener it would crash the process.
  client.on('error', (error) => {
    if (connected) markLost(error);
  });
  try {
    await withTimeout(client.connect(), connectTimeoutMs + 1_000);
    await client.sendCommand(['PING'], { timeout: connectTimeoutMs });
    connected = true;
  } catch (error) {
    try {
      client.destroy();
    } catch {
      // Never connected: nothing to close.
    }
    throw new DlrError('locked', `cannot reach the coordinator ${address.shown} (${reason(error)}); try again later`, { cause: error });
  }
  const member = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const send = async (args: readonly string[]): Promise<unknown> => {
    if (lostError !== undefined) throw lostError;
    try {
      return await client.sendCommand(args, { timeout: commandTimeoutMs });
    } catch (error) {
      throw markLost(error);
    }
  };
  return {
    address,
    member,
    lost: controller.signal,
    lostError: () => lostError,
    command: send,
    async run(script, keys, args) {
      const rest = [String(keys.length), ...keys, ...args.map(String)];
      if (lostError !== undefined) throw lostError;
      try {
        return await client.sendCommand(['EVALSHA', script.sha, ...rest], { timeout: commandTimeoutMs });
      } catch (error) {
        // The server's script cache is empty after a restart or SCRIPT FLUSH: send the source once.
        if (!String((error as Error)?.message ?? '').startsWith('NOSCRIPT')) throw markLost(error);
      }
      return send(['EVAL', script.source, ...rest]);
    },
    async close() {
      connected = false;
      try {
        if (client.isOpen && lostError === undefined && client.close) await withTimeout(client.close(), 2_000);
        else client.destroy();
      } catch {
        try {
          client.destroy();
        } catch {
          // Already gone.
        }
      }
    },
  };
}

/** What went wrong, in a few words (errno or the client's message), without the URL it may quote. */
function reason(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown; errors?: unknown } | null;
  if (typeof e?.code === 'string') return e.code;
  // AggregateError (every address refused) carries its codes inside.
  if (Array.isArray(e?.errors)) {
    const code = (e.errors as Array<{ code?: unknown }>).map((x) => x?.code).find((c) => typeof c === 'string');
    if (typeof code === 'string') return code;
  }
  const message = typeof e?.message === 'string' ? e.message : String(error);
  return message.replace(/rediss?:\/\/\S*/g, '').trim().slice(0, 160) || 'no answer';
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
