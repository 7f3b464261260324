import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { lstat, mkdir, readFile, readlink, realpath, stat, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireRunLock, LOCK_FILE_NAME, releaseOnExit, type RunLock } from '../../src/batch/run-lock.js';
import { DlrError } from '../../src/errors.js';
import { pathExists } from '../../src/util/fs.js';
import { makeTempDir } from '../helpers/temp-dir.js';

let root: string;
let cleanup: () => Promise<void>;
const locks: RunLock[] = [];

beforeEach(async () => {
  const temp = await makeTempDir('dlr-lock-');
  // Real path: the lock reports real paths, and macOS temp dirs sit behind a symlink.
  root = await realpath(temp.path);
  cleanup = temp.cleanup;
});

afterEach(async () => {
  for (const lock of locks.splice(0)) await lock.release();
  await cleanup();
});

async function acquire(...args: Parameters<typeof acquireRunLock>): Promise<RunLock> {
  const lock = await acquireRunLock(...args);
  locks.push(lock);
  return lock;
}

async function lockError(promise: Promise<unknown>): Promise<DlrError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(DlrError);
  return error as DlrError;
}

async function writeHolder(dir: string, holder: object | string): Promise<string> {
  const lockPath = join(dir, '.dlr.lock');
  await mkdir(dir, { recursive: true });
  await writeFile(lockPath, typeof holder === 'string' ? holder : `${JSON.stringify(holder)}\n`);
  return lockPath;
}

async function holderPid(lockPath: string): Promise<number> {
  return (JSON.parse(await readFile(lockPath, 'utf8')) as { pid: number }).pid;
}

/** The pid of a child that has already exited: a process known to be dead. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  return child.pid!;
}

const elevenSecondsAgo = (): Date => new Date(Date.now() - 11_000);

describe('acquireRunLock', () => {
  it('creates one lock per distinct directory, with our pid, host and start time', async () => {
    const a = join(root, 'a');
    const b = join(root, 'nested', 'b');
    const lock = await acquire([b, a, `${a}/`, join(b, '..', 'b')], { pid: 4242 });

    expect(lock.paths).toEqual([join(a, '.dlr.lock'), join(b, '.dlr.lock')]);
    for (const lockPath of lock.paths) {
      const text = await readFile(lockPath, 'utf8');
      expect(text.endsWith('}\n')).toBe(true);
      const content = JSON.parse(text) as { pid: number; host: string; started: string };
      expect(content.pid).toBe(4242);
      expect(content.host).toBe(hostname());
      expect(Number.isNaN(Date.parse(content.started))).toBe(false);
      if (process.platform !== 'win32') expect((await stat(lockPath)).mode & 0o022).toBe(0);
    }
  });

  it('defaults the pid to this process', async () => {
    const lock = await acquire([root]);
    expect(await holderPid(lock.paths[0]!)).toBe(process.pid);
  });

  it('shares one lock between a directory and a symlink to it', async () => {
    const real = join(root, 'real');
    await mkdir(real);
    await symlink(real, join(root, 'alias'));
    const lock = await acquire([real, join(root, 'alias')]);
    expect(lock.paths).toEqual([join(real, '.dlr.lock')]);
  });

  it('refuses a directory held by a live run in this process, naming the lock and pid', async () => {
    const first = await acquire([root]);
    const error = await lockError(acquireRunLock([root]));
    expect(error.code).toBe('locked');
    expect(error.message).toContain(first.paths[0]);
    expect(error.message).toContain(`pid ${process.pid}`);
    // The refused attempt must not have disturbed the holder's lock.
    expect(await holderPid(first.paths[0]!)).toBe(process.pid);
  });

  it('refuses a directory held by another live process', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    try {
      const lockPath = await writeHolder(root, { pid: child.pid, host: hostname(), started: new Date().toISOString() });
      const error = await lockError(acquireRunLock([root]));
      expect(error.code).toBe('locked');
      expect(error.message).toBe(`another dlr run (pid ${child.pid}) holds ${lockPath}; try again later`);
      expect(await holderPid(lockPath)).toBe(child.pid);
    } finally {
      child.kill();
    }
  });

  it.skipIf(process.platform !== 'linux')('takes over a lock whose pid now belongs to a process started after the lock was written', async () => {
    // After a reboot a dead run's pid is someone else's: here a live child, younger than the lock.
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    try {
      const lockPath = await writeHolder(root, { pid: child.pid, host: hostname(), started: '2020-01-01T00:00:00.000Z' });
      const hourAgo = new Date(Date.now() - 3_600_000);
      await utimes(lockPath, hourAgo, hourAgo);
      await acquire([root]);
      expect(await holderPid(lockPath)).toBe(process.pid);
    } finally {
      child.kill();
    }
  });

  it('asks the injected liveness check about the holder', async () => {
    await writeHolder(root, { pid: 999_999, host: hostname() });
    const asked: number[] = [];
    const error = await lockError(
      acquireRunLock([root], {
        isAlive: (pid) => {
          asked.push(pid);
          return true;
        },
      }),
    );
    expect(error.code).toBe('locked');
    expect(asked).toEqual([999_999]);
  });

  it('takes over a lock whose holder has exited', async () => {
    const pid = await deadPid();
    const lockPath = await writeHolder(root, { pid, host: hostname(), started: new Date().toISOString() });
    await acquire([root]);
    expect(await holderPid(lockPath)).toBe(process.pid);
  });

  it.skipIf(process.platform !== 'linux')('takes over a lock whose holder is a zombie (killed, not yet reaped)', async () => {
    // A parent that forks a child which exits at once, and never reaps it (perl, unlike a shell, does not wait on its own).
    const parent = spawn('perl', ['-e', '$| = 1; my $pid = fork(); exit 0 if $pid == 0; print "$pid\\n"; sleep 30;'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const [line] = (await once(parent.stdout!, 'data')) as [Buffer];
      const zombie = Number(line.toString().trim());
      // Wait until /proc shows it as a zombie, then prove it still answers signal 0.
      for (let i = 0; i < 100; i++) {
        const stat = await readFile(`/proc/${zombie}/stat`, 'utf8');
        if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(() => process.kill(zombie, 0)).not.toThrow();
      const lockPath = await writeHolder(root, { pid: zombie, host: hostname(), started: new Date().toISOString() });
      await acquire([root]);
      expect(await holderPid(lockPath)).toBe(process.pid);
    } finally {
      parent.kill();
    }
  });

  it('takes over a lock the injected check reports dead', async () => {
    const lockPath = await writeHolder(root, { pid: 12_345, host: hostname() });
    await acquire([root], { pid: 777, isAlive: () => false });
    expect(await holderPid(lockPath)).toBe(777);
  });

  it('takes over a leftover naming our own pid that this process does not hold (pid reuse)', async () => {
    const lockPath = await writeHolder(root, { pid: process.pid, host: hostname() });
    await acquire([root], { isAlive: () => true });
    expect(await holderPid(lockPath)).toBe(process.pid);
  });

  it('treats a lock from another host as held, whatever the local pid table says', async () => {
    const lockPath = await writeHolder(root, { pid: 12_345, host: 'other-host.example' });
    const error = await lockError(acquireRunLock([root], { isAlive: () => false }));
    expect(error.code).toBe('locked');
    expect(error.message).toContain('other-host.example');
    expect(error.message).toContain(lockPath);
  });

  it.each([
    ['empty', ''],
    ['truncated', '{"pid": 12'],
    ['not an object', '42\n'],
    ['pid 0', '{"pid": 0, "host": "h"}'],
    ['no host', '{"pid": 12345}'],
  ])('takes over a garbage (%s) lock older than 10 s', async (_label, text) => {
    const lockPath = await writeHolder(root, text);
    await utimes(lockPath, elevenSecondsAgo(), elevenSecondsAgo());
    await acquire([root], { pid: 555, isAlive: () => true });
    expect(await holderPid(lockPath)).toBe(555);
  });

  it('leaves a fresh garbage lock alone: its writer may still be filling it', async () => {
    const lockPath = await writeHolder(root, '');
    const error = await lockError(acquireRunLock([root], { isAlive: () => false }));
    expect(error.code).toBe('locked');
    expect(error.message).toContain(lockPath);
    expect(await readFile(lockPath, 'utf8')).toBe('');
  });

  it('lets exactly one of two runs take over the same stale lock', async () => {
    for (let round = 0; round < 25; round += 1) {
      const dir = join(root, `race-${round}`);
      const lockPath = await writeHolder(dir, { pid: 12_345, host: hostname() });
      const isAlive = (pid: number): boolean => pid !== 12_345;
      const results = await Promise.allSettled([
        acquireRunLock([dir], { pid: 1001, isAlive }),
        acquireRunLock([dir], { pid: 1002, isAlive }),
      ]);
      const won = results.filter((result) => result.status === 'fulfilled');
      const lost = results.filter((result) => result.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(((lost[0] as PromiseRejectedResult).reason as DlrError).code).toBe('locked');
      const winner = (won[0] as PromiseFulfilledResult<RunLock>).value;
      locks.push(winner);
      expect(await holderPid(lockPath)).toBe(results[0]!.status === 'fulfilled' ? 1001 : 1002);
    }
  });

  it('releases the locks it took when a later directory is held', async () => {
    const free = join(root, 'a-free');
    const held = join(root, 'b-held');
    const heldPath = await writeHolder(held, { pid: 31_337, host: hostname() });

    const error = await lockError(acquireRunLock([free, held], { isAlive: () => true }));
    expect(error.code).toBe('locked');
    expect(error.message).toContain(heldPath);
    expect(await pathExists(join(free, '.dlr.lock'))).toBe(false);
    expect(await holderPid(heldPath)).toBe(31_337);
    // Nothing left behind: the free directory can be locked again at once.
    await acquire([free]);
  });

  it('rejects a symlink at the lock path without touching its target', async () => {
    const target = join(root, 'target.txt');
    await writeFile(target, 'precious');
    const dir = join(root, 'dir');
    await mkdir(dir);
    const lockPath = join(dir, '.dlr.lock');
    await symlink(target, lockPath);

    const error = await lockError(acquireRunLock([dir], { isAlive: () => false }));
    expect(error.code).toBe('disk');
    expect(error.message).toBe(`lock path is not a regular file: ${lockPath}`);
    expect(await readFile(target, 'utf8')).toBe('precious');
    expect((await lstat(lockPath)).isSymbolicLink()).toBe(true);
    expect(await readlink(lockPath)).toBe(target);
  });

  it('does not create the target of a dangling symlink at the lock path', async () => {
    const target = join(root, 'nowhere.txt');
    const lockPath = join(root, '.dlr.lock');
    await symlink(target, lockPath);
    const error = await lockError(acquireRunLock([root]));
    expect(error.code).toBe('disk');
    expect(await pathExists(target)).toBe(false);
  });

  it('rejects a directory at the lock path', async () => {
    await mkdir(join(root, '.dlr.lock'));
    const error = await lockError(acquireRunLock([root]));
    expect(error.code).toBe('disk');
    expect(error.message).toContain('not a regular file');
  });

  it('locks the usable directories and reports one where nothing can be written, instead of failing the run', async () => {
    await writeFile(join(root, 'file'), '');
    const lock = await acquireRunLock([join(root, 'file', 'sub'), join(root, 'ok')]);
    expect(lock.paths).toEqual([join(await realpath(root), 'ok', LOCK_FILE_NAME)]);
    expect(lock.unlockable).toHaveLength(1);
    expect(lock.unlockable[0]?.dir).toBe(join(root, 'file', 'sub'));
    expect(lock.unlockable[0]?.reason).toMatch(/cannot write/);
    await lock.release();
  });
});

describe('RunLock.release', () => {
  it('removes our locks and frees the directories for the next run', async () => {
    const lock = await acquireRunLock([join(root, 'a'), join(root, 'b')]);
    await lock.release();
    for (const lockPath of lock.paths) expect(await pathExists(lockPath)).toBe(false);
    await acquire([join(root, 'a'), join(root, 'b')]);
  });

  it('is idempotent and ignores a lock already gone', async () => {
    const lock = await acquireRunLock([root]);
    await lock.release();
    await lock.release();
    const again = await acquireRunLock([root]);
    await unlink(again.paths[0]!);
    await expect(again.release()).resolves.toBeUndefined();
  });

  it('never removes a lock that now names another pid', async () => {
    const lock = await acquireRunLock([root], { pid: 1111 });
    await writeHolder(root, { pid: 2222, host: hostname() });
    await lock.release();
    expect(await holderPid(lock.paths[0]!)).toBe(2222);
  });

  it('leaves a symlink that replaced our lock alone', async () => {
    const lock = await acquireRunLock([root]);
    await unlink(lock.paths[0]!);
    const target = join(root, 'target.txt');
    await writeFile(target, JSON.stringify({ pid: process.pid, host: hostname() }));
    await symlink(target, lock.paths[0]!);
    await lock.release();
    expect((await lstat(lock.paths[0]!)).isSymbolicLink()).toBe(true);
    expect(await pathExists(target)).toBe(true);
  });
});

describe('releaseOnExit', () => {
  function newExitListeners(before: readonly unknown[]): Array<(...args: unknown[]) => void> {
    return process.listeners('exit').filter((listener) => !before.includes(listener)) as Array<
      (...args: unknown[]) => void
    >;
  }

  it('removes our locks on exit, but not one that now names another pid', async () => {
    const lock = await acquire([join(root, 'a'), join(root, 'b')], { pid: 1111 });
    const before = process.listeners('exit');
    releaseOnExit(lock);
    const added = newExitListeners(before);
    expect(added).toHaveLength(1);
    try {
      await writeHolder(join(root, 'b'), { pid: 2222, host: hostname() });
      // Calling it directly: emitting 'exit' would run the test runner's handlers too.
      added[0]!(0);
      expect(await pathExists(lock.paths[0]!)).toBe(false);
      expect(await holderPid(lock.paths[1]!)).toBe(2222);
    } finally {
      process.removeListener('exit', added[0]!);
    }
  });

  it('unregisters itself when the lock is released', async () => {
    const lock = await acquireRunLock([root]);
    const before = process.listeners('exit');
    releaseOnExit(lock);
    expect(newExitListeners(before)).toHaveLength(1);
    await lock.release();
    expect(newExitListeners(before)).toHaveLength(0);
    releaseOnExit(lock);
    expect(newExitListeners(before)).toHaveLength(0);
  });
});
