import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort, requireBinary } from '../helpers/real-servers.js';
import { makeTempDir } from '../helpers/temp-dir.js';

/** The real redis-server for the fleet tests; undefined (skipped, with a note) when it is not installed, except in CI. */
export const REDIS_SERVER = requireBinary('redis-server', 'the fleet tests (dlr --coordinator)');

export interface Redis {
  readonly port: number;
  readonly url: string;
  readonly child: ChildProcess;
  /** SIGKILL, as a crashed or unplugged Redis. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** A redis-server of its own on a free loopback port, no persistence, in a temp dir. */
export async function startRedis(): Promise<Redis> {
  if (REDIS_SERVER === undefined) throw new Error('redis-server is not installed');
  const dir = await makeTempDir('dlr-redis-');
  const port = await freePort();
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir.path], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (log += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`redis-server exited: ${log}`);
    if (await answersPing(port)) break;
    if (i > 200) throw new Error(`redis-server did not answer on ${port}: ${log}`);
    await delay(25);
  }
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;
    }
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    child,
    kill: () => end('SIGKILL'),
    stop: async () => {
      await end('SIGTERM');
      await dir.cleanup();
    },
  };
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => socket.write('PING\r\n'));
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      socket.destroy();
      resolve(d.startsWith('+PONG'));
    });
    socket.on('error', () => resolve(false));
  });
}
