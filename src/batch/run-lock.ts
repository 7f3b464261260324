import { randomBytes } from 'node:crypto';
import { constants, lstatSync, readFileSync, unlinkSync } from 'node:fs';
import { link, lstat, mkdir, open, realpath, rename, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { DlrError, errnoOf, toDlrError } from '../errors.js';
import { removeOrphans, tempPathBeside } from '../util/fs.js';

/** The lock file's name inside each download directory. */
export const LOCK_FILE_NAME = '.dlr.lock';

/**
 * A lock whose content cannot be parsed is most likely one a writer has just
 * created and not yet filled; only after this long is it a crash leftover.
 */
const GARBAGE_STALE_MS = 10_000;

// Enough for any lock we write; a bigger file is garbage either way, and
// reading it whole would let a stray huge file stall every run.
const MAX_LOCK_BYTES = 4096;

// Undefined on Windows, where we fall back to the lstat check alone.
const O_NOFOLLOW: number = constants.O_NOFOLLOW ?? 0;

/** Locks held by runs in a directory set; release it when the run ends. */
export interface RunLock {
  /** The lock files, one per distinct directory: real paths, sorted. */
  readonly paths: readonly string[];
  /**
   * Folders where no lock file could be written (read-only, full, not a
   * folder). Nothing can write there, this run included, so there is nothing
   * to protect; each file bound for them fails on its own with a `disk` error.
   */
  readonly unlockable: ReadonlyArray<{ readonly dir: string; readonly reason: string }>;
  /** Removes the lock files that still name this run. Idempotent; never throws for a lock already gone. */
  release(): Promise<void>;
}

/** Test seams for {@link acquireRunLock}. */
export interface AcquireRunLockOptions {
  /** The pid written into the locks; defaults to `process.pid`. */
  readonly pid?: number;
  /** Whether a process on this host is still running; defaults to `process.kill(pid, 0)`. */
  readonly isAlive?: (pid: number) => boolean;
}

interface Holder {
  readonly pid: number;
  readonly host: string;
}

interface Observed {
  readonly ino: number;
  readonly mtimeMs: number;
  readonly text: string;
}

/**
 * Lock path → pid for locks this process holds. A lock naming our own pid is
 * either ours or a leftover from an earlier process that had the same pid
 * (routine in containers, where every run is pid 1); `kill(pid, 0)` cannot
 * tell those apart, this map can.
 */
const heldHere = new Map<string, number>();

/**
 * Takes `<dir>/.dlr.lock` in every directory (deduplicated by real path,
 * sorted, created with `mkdir -p`). All or nothing: if one directory is held
 * by another run, the locks already taken are released and `locked` is thrown.
 * A lock path that is a symlink or not a regular file throws `disk`.
 */
export async function acquireRunLock(dirs: readonly string[], opts: AcquireRunLockOptions = {}): Promise<RunLock> {
  const pid = opts.pid ?? process.pid;
  const isAlive = opts.isAlive ?? isProcessAlive;
  const { paths: lockPaths, unlockable } = await lockPathsFor(dirs);
  const taken: string[] = [];
  try {
    for (const lockPath of lockPaths) {
      try {
        await lockOne(lockPath, pid, isAlive);
        taken.push(lockPath);
        // Holding the lock, clear what killed runs left: set-aside locks, temp files.
        await removeOrphans(dirname(lockPath), isAlive);
      } catch (error) {
        if (!isUnwritable(error)) throw error;
        unlockable.push({ dir: dirname(lockPath), reason: (error as DlrError).message });
      }
    }
  } catch (error) {
    // The error that stopped us matters more than one from cleaning up.
    await releaseAll(taken, pid).catch(() => undefined);
    throw error;
  }
  return new ProcessRunLock(taken, pid, unlockable);
}

/** Errors that mean "nothing can be written here", as opposed to a lock held or a planted link. */
const UNWRITABLE_ERRNOS = new Set(['EROFS', 'EACCES', 'EPERM', 'ENOTDIR', 'EEXIST', 'ENOSPC', 'EDQUOT']);

function isUnwritable(error: unknown): boolean {
  return error instanceof DlrError && error.code === 'disk' && error.detail !== undefined && UNWRITABLE_ERRNOS.has(error.detail);
}

/**
 * Removes the lock files synchronously when the process exits, so an exit
 * path that skips `release()` (an early `process.exit`) leaves no lock behind.
 * Signals that kill the process outright still leave one; the next run takes
 * it over once it sees the pid is gone.
 */
export function releaseOnExit(lock: RunLock): void {
  if (lock instanceof ProcessRunLock) lock.releaseOnExit();
}

class ProcessRunLock implements RunLock {
  readonly paths: readonly string[];
  readonly unlockable: ReadonlyArray<{ readonly dir: string; readonly reason: string }>;
  readonly #pid: number;
  #releasing: Promise<void> | undefined;
  #exitHandler: (() => void) | undefined;

  constructor(paths: readonly string[], pid: number, unlockable: ReadonlyArray<{ dir: string; reason: string }> = []) {
    this.paths = Object.freeze([...paths]);
    this.unlockable = Object.freeze([...unlockable]);
    this.#pid = pid;
  }

  release(): Promise<void> {
    if (this.#exitHandler) process.removeListener('exit', this.#exitHandler);
    this.#exitHandler = undefined;
    this.#releasing ??= releaseAll(this.paths, this.#pid);
    return this.#releasing;
  }

  releaseOnExit(): void {
    if (this.#releasing || this.#exitHandler) return;
    const pid = this.#pid;
    const paths = this.paths;
    this.#exitHandler = () => {
      for (const path of paths) {
        try {
          if (!lstatSync(path).isFile()) continue;
          if (parseHolder(readFileSync(path, 'utf8'))?.pid === pid) unlinkSync(path);
        } catch {
          // Exiting anyway; a lock left behind is taken over by the next run.
        }
      }
    };
    process.once('exit', this.#exitHandler);
  }
}

async function lockPathsFor(dirs: readonly string[]): Promise<{ paths: string[]; unlockable: Array<{ dir: string; reason: string }> }> {
  const paths = new Set<string>();
  const unlockable: Array<{ dir: string; reason: string }> = [];
  for (const dir of dirs) {
    const absolute = resolve(dir);
    try {
      await mkdir(absolute, { recursive: true });
      // Real paths, so `models` and a symlink to it share one lock rather
      // than the second acquire mistaking our own lock for someone else's.
      paths.add(join(await realpath(absolute), LOCK_FILE_NAME));
    } catch (caught) {
      const error = toDlrError(caught, { path: absolute });
      if (!isUnwritable(error)) throw error;
      unlockable.push({ dir: absolute, reason: error.message });
    }
  }
  // One global order, so two runs over overlapping sets meet in the same place.
  return { paths: [...paths].sort(), unlockable };
}

async function lockOne(lockPath: string, pid: number, isAlive: (pid: number) => boolean): Promise<void> {
  if (await tryCreate(lockPath, pid)) return;
  const seen = await readLock(lockPath);
  if (seen === undefined) {
    // The holder released between our create and our read.
    if (await tryCreate(lockPath, pid)) return;
    throw new DlrError('locked', `another dlr run holds ${lockPath}; try again later`);
  }
  const refusal = refusalFor(seen, lockPath, pid, isAlive);
  if (refusal !== undefined) throw new DlrError('locked', refusal);
  if (await takeOver(lockPath, seen, pid)) return;
  throw new DlrError('locked', `another dlr run took over the stale lock ${lockPath} first; try again later`);
}

/** Why the lock is still held, or undefined when it is stale. */
function refusalFor(
  seen: Observed,
  lockPath: string,
  pid: number,
  isAlive: (pid: number) => boolean,
): string | undefined {
  const holder = parseHolder(seen.text);
  if (holder === undefined) {
    if (Date.now() - seen.mtimeMs > GARBAGE_STALE_MS) return undefined;
    return `another dlr run is starting and holds ${lockPath}; try again later`;
  }
  if (holder.host !== hostname()) {
    return `another dlr run (pid ${holder.pid} on host ${holder.host}) holds ${lockPath}; try again later, or delete the file if that run is gone`;
  }
  const alive =
    holder.pid === pid ? heldHere.get(lockPath) === pid : isAlive(holder.pid) && !startedAfter(holder.pid, seen.mtimeMs);
  return alive ? `another dlr run (pid ${holder.pid}) holds ${lockPath}; try again later` : undefined;
}

/**
 * Replaces a stale lock. Unlinking it directly would race: two runs that both
 * judged it stale could each unlink and the slower one would delete the
 * faster one's fresh lock. Renaming it aside is atomic, and the file moved
 * aside can be checked to be the one judged stale, and put back if not.
 */
async function takeOver(lockPath: string, seen: Observed, pid: number): Promise<boolean> {
  const aside = `${lockPath}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  let moved = true;
  try {
    await rename(lockPath, aside);
  } catch (error) {
    if (errnoOf(error) !== 'ENOENT') throw toDlrError(error, { path: lockPath });
    moved = false;
  }
  if (moved) {
    const movedFile = await readLock(aside).catch(() => undefined);
    if (movedFile === undefined || !sameFile(movedFile, seen)) {
      await putBack(aside, lockPath);
      return false;
    }
    await unlink(aside).catch(() => undefined);
  }
  return tryCreate(lockPath, pid);
}

// Inode numbers are reused as soon as a file is deleted, so the inode alone
// does not prove the file moved aside is the stale one; the content and mtime
// of a lock written since differ.
function sameFile(a: Observed, b: Observed): boolean {
  return a.ino === b.ino && a.mtimeMs === b.mtimeMs && a.text === b.text;
}

async function putBack(aside: string, lockPath: string): Promise<void> {
  try {
    // link, not rename: it fails rather than clobber a lock created meanwhile.
    await link(aside, lockPath);
  } catch (error) {
    if (errnoOf(error) !== 'EEXIST') await rename(aside, lockPath).catch(() => undefined);
  }
  await unlink(aside).catch(() => undefined);
}

/** Creates the lock with O_CREAT|O_EXCL; false if something is already at the path. */
/**
 * Creates the lock with its content already in it: the JSON is written to a
 * temp file and hard-linked into place, which is atomic and fails if a lock
 * exists (a link does not follow a symlink at the path either). A run killed
 * at any moment therefore never leaves an empty lock that the next run would
 * have to wait out; at worst a temp file, swept as an orphan.
 */
async function tryCreate(lockPath: string, pid: number): Promise<boolean> {
  const content = `${JSON.stringify({ pid, host: hostname(), started: new Date().toISOString() })}\n`;
  const tmp = tempPathBeside(lockPath);
  try {
    await writeFile(tmp, content, { flag: 'wx', mode: 0o644 });
  } catch (error) {
    throw toDlrError(error, { path: lockPath });
  }
  // Before the link, so a reader in this process who sees our pid in the file also sees it here;
  // on failure the previous entry (a lock this process already holds) comes back.
  const previous = heldHere.get(lockPath);
  heldHere.set(lockPath, pid);
  try {
    await link(tmp, lockPath);
    return true;
  } catch (error) {
    if (previous === undefined) heldHere.delete(lockPath);
    else heldHere.set(lockPath, previous);
    const errno = errnoOf(error);
    if (errno === 'EEXIST') return false;
    // File systems without hard links: fall back to an exclusive create.
    if (errno === 'EPERM' || errno === 'ENOTSUP' || errno === 'EOPNOTSUPP' || errno === 'ENOSYS') return createExclusive(lockPath, pid, content);
    throw toDlrError(error, { path: lockPath });
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

async function createExclusive(lockPath: string, pid: number, content: string): Promise<boolean> {
  let handle;
  try {
    // 'wx' does not follow a symlink at the path, even a dangling one: it fails with EEXIST.
    handle = await open(lockPath, 'wx', 0o644);
  } catch (error) {
    if (errnoOf(error) === 'EEXIST') return false;
    throw toDlrError(error, { path: lockPath });
  }
  heldHere.set(lockPath, pid);
  try {
    try {
      await handle.writeFile(content);
    } finally {
      await handle.close();
    }
  } catch (error) {
    heldHere.delete(lockPath);
    await unlink(lockPath).catch(() => undefined);
    throw toDlrError(error, { path: lockPath });
  }
  return true;
}

/** Reads a lock file without following a symlink; undefined if it is gone. */
async function readLock(lockPath: string): Promise<Observed | undefined> {
  try {
    // lstat first: opening a FIFO planted at the path would block forever.
    if (!(await lstat(lockPath)).isFile()) throw notRegularFile(lockPath);
    // O_NOFOLLOW closes the gap between the lstat and the open.
    const handle = await open(lockPath, constants.O_RDONLY | O_NOFOLLOW);
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) throw notRegularFile(lockPath);
      const buffer = Buffer.alloc(MAX_LOCK_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, MAX_LOCK_BYTES, 0);
      return { ino: stats.ino, mtimeMs: stats.mtimeMs, text: buffer.toString('utf8', 0, bytesRead) };
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof DlrError) throw error;
    const errno = errnoOf(error);
    if (errno === 'ENOENT') return undefined;
    if (errno === 'ELOOP' || errno === 'EMLINK') throw notRegularFile(lockPath);
    throw toDlrError(error, { path: lockPath });
  }
}

/** Kept apart from other disk errors so release can leave such a path alone. */
class NotRegularFileError extends DlrError {}

function notRegularFile(lockPath: string): DlrError {
  return new NotRegularFileError('disk', `lock path is not a regular file: ${lockPath}`);
}

function parseHolder(text: string): Holder | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { pid, host } = value as { pid?: unknown; host?: unknown };
  // pid 0 and negatives would make kill(pid, 0) probe a process group.
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0 || pid > 0x7fffffff) return undefined;
  if (typeof host !== 'string' || host === '') return undefined;
  return { pid, host };
}

async function releaseAll(lockPaths: readonly string[], pid: number): Promise<void> {
  let firstError: unknown;
  for (const lockPath of lockPaths) {
    try {
      await releaseOne(lockPath, pid);
    } catch (error) {
      firstError ??= error;
    }
  }
  if (firstError !== undefined) throw toDlrError(firstError);
}

async function releaseOne(lockPath: string, pid: number): Promise<void> {
  let seen: Observed | undefined;
  try {
    seen = await readLock(lockPath);
  } catch (error) {
    // Something replaced our lock with a non-file: not ours to remove.
    if (!(error instanceof NotRegularFileError)) throw error;
    seen = undefined;
  }
  const holder = seen === undefined ? undefined : parseHolder(seen.text);
  if (holder !== undefined && holder.pid === pid && holder.host === hostname()) {
    try {
      await unlink(lockPath);
    } catch (error) {
      if (errnoOf(error) !== 'ENOENT') throw toDlrError(error, { path: lockPath });
    }
  }
  if (heldHere.get(lockPath) === pid) heldHere.delete(lockPath);
}

/** Linux's USER_HZ, the unit of /proc/<pid>/stat start times; 100 on every mainstream architecture. */
const CLOCK_TICKS_PER_SEC = 100;
/**
 * Start times are ticks since a boot time that moves when the wall clock is
 * stepped (a VM resumed, an NTP jump), while the lock's mtime does not: the
 * margin keeps a clock step from making a live run look younger than its lock.
 * Reused pids are younger by far more (a reboot).
 */
const START_TIME_SLACK_MS = 60_000;

/**
 * Whether `pid` is a process that started after the lock was written, so it
 * cannot be the run that wrote it: after a reboot or a long uptime, a dead
 * run's pid is often someone else's (pid 1 after a power cut), and trusting
 * `kill(pid, 0)` alone would refuse every nightly run until someone deleted
 * the lock by hand. False when /proc cannot tell (not Linux): then the pid
 * check stands alone.
 */
export function startedAfter(pid: number, lockWrittenMs: number): boolean {
  try {
    const bootSec = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22; the command name (field 2) may hold spaces and parentheses, so count after its last ')'.
    const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    if (!Number.isFinite(bootSec) || !Number.isFinite(startTicks)) return false;
    const startedMs = bootSec * 1000 + (startTicks / CLOCK_TICKS_PER_SEC) * 1000;
    return startedMs > lockWrittenMs + START_TIME_SLACK_MS;
  } catch {
    return false;
  }
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists but belongs to another user. Anything but ESRCH is
    // not proof of death, and wrongly taking a live lock is the worse mistake.
    if (errnoOf(error) === 'ESRCH') return false;
  }
  // A zombie (killed, not yet reaped by its parent) still answers signal 0
  // but will never run again: its lock is free.
  return !isZombie(pid);
}

/** Whether /proc says the process has exited and waits to be reaped (state Z or X). False when /proc cannot tell. */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: the state follows the last ')'.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return false;
  }
}
