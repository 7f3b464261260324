import { readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { DlrError, toDlrError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';

/**
 * `dlr.lock.json`: what `dlr pull` verified, so `dlr pull --frozen`
 * installs exactly that (as `npm ci` installs package-lock.json). One entry
 * per pull (a source into a folder); each names the commit the revision
 * resolved to and every file's path, size and hash: SHA-256 for LFS files
 * (and Civitai's), the git blob id for the Hub's small files, which the Hub
 * publishes no SHA-256 for.
 *
 * Written sorted (pulls by folder then source, files by path, keys in a
 * fixed order) so a re-pull that changes nothing changes no byte, and a
 * diff shows only what moved.
 */
export const LOCKFILE_VERSION = 1;
export const DEFAULT_LOCK_FILE = 'dlr.lock.json';
/** A lock lists files, not their bytes; this bounds what reading a wrong path (a model) costs. */
const MAX_LOCK_BYTES = 64 * 1024 * 1024;

export interface LockedFile {
  /** The path inside the repository (`onnx/model.onnx`); the file lands at the same path under the folder, made safe. */
  readonly path: string;
  readonly size: number;
  readonly sha256?: string;
  /** Git blob SHA-1: sha1("blob <size>\0" + bytes). */
  readonly gitBlobId?: string;
  /** Civitai's file id, to ask its download route for exactly this file. */
  readonly id?: number;
}

export interface LockedPull {
  /** `hf:ORG/REPO` or `civitai:VERSION_ID`. */
  readonly source: string;
  /** The revision asked for (Hub). */
  readonly revision?: string;
  /** The commit it resolved to (Hub). */
  readonly commit?: string;
  /** The folder, relative to the lock file's, with `/` separators. */
  readonly dir: string;
  readonly include: readonly string[];
  readonly exclude: readonly string[];
  readonly files: readonly LockedFile[];
}

export interface LockFile {
  readonly pulls: readonly LockedPull[];
}

/** A missing lock is an empty one; an unreadable or malformed one is a config error (exit 2), never overwritten. */
export async function readLockFile(path: string): Promise<LockFile | undefined> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return undefined;
    throw toDlrError(error, { path });
  }
  if (data.length > MAX_LOCK_BYTES) throw bad(path, `larger than ${MAX_LOCK_BYTES >> 20} MiB`);
  let json: unknown;
  try {
    json = JSON.parse(data.toString('utf8'));
  } catch (error) {
    throw bad(path, `not JSON (${(error as Error).message})`);
  }
  return parseLock(json, path);
}

function bad(path: string, why: string): DlrError {
  return new DlrError('config', `${path}: ${why}; fix it or delete it and pull again`);
}

function parseLock(json: unknown, path: string): LockFile {
  const root = record(json);
  if (root === undefined) throw bad(path, 'not a lock file');
  if (root.lockfileVersion !== LOCKFILE_VERSION) throw bad(path, `lockfileVersion ${JSON.stringify(root.lockfileVersion)} is not ${LOCKFILE_VERSION}`);
  if (!Array.isArray(root.pulls)) throw bad(path, '"pulls" is not a list');
  const pulls = root.pulls.map((raw, i): LockedPull => {
    const p = record(raw);
    const where = `pulls[${i}]`;
    if (p === undefined || typeof p.source !== 'string' || typeof p.dir !== 'string' || !Array.isArray(p.files)) {
      throw bad(path, `${where} needs "source", "dir" and "files"`);
    }
    const strings = (v: unknown, name: string) => {
      if (v === undefined) return [];
      if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw bad(path, `${where}.${name} is not a list of patterns`);
      return v as string[];
    };
    const optionalString = (v: unknown, name: string) => {
      if (v !== undefined && typeof v !== 'string') throw bad(path, `${where}.${name} is not a string`);
      return v as string | undefined;
    };
    const revision = optionalString(p.revision, 'revision');
    const commit = optionalString(p.commit, 'commit');
    if (commit !== undefined && !/^[0-9a-f]{40}$/.test(commit)) throw bad(path, `${where}.commit is not a commit id`);
    const files = p.files.map((rawFile, j): LockedFile => {
      const f = record(rawFile);
      const at = `${where}.files[${j}]`;
      if (f === undefined || typeof f.path !== 'string' || !Number.isSafeInteger(f.size) || (f.size as number) < 0) {
        throw bad(path, `${at} needs "path" and "size"`);
      }
      const sha256 = f.sha256;
      const gitBlobId = f.gitBlobId;
      if (sha256 !== undefined && (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256))) throw bad(path, `${at}.sha256 is not a SHA-256`);
      if (gitBlobId !== undefined && (typeof gitBlobId !== 'string' || !/^[0-9a-f]{40}$/.test(gitBlobId))) throw bad(path, `${at}.gitBlobId is not a git blob id`);
      if (sha256 === undefined && gitBlobId === undefined) throw bad(path, `${at} has neither "sha256" nor "gitBlobId"`);
      if (f.id !== undefined && !Number.isSafeInteger(f.id)) throw bad(path, `${at}.id is not a number`);
      return {
        path: f.path,
        size: f.size as number,
        ...(typeof sha256 === 'string' ? { sha256 } : {}),
        ...(typeof gitBlobId === 'string' ? { gitBlobId } : {}),
        ...(typeof f.id === 'number' ? { id: f.id } : {}),
      };
    });
    return {
      source: p.source,
      ...(revision !== undefined ? { revision } : {}),
      ...(commit !== undefined ? { commit } : {}),
      dir: p.dir,
      include: strings(p.include, 'include'),
      exclude: strings(p.exclude, 'exclude'),
      files,
    };
  });
  return { pulls };
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** Code-unit order: the same on every machine and locale. */
function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The lock's text: sorted, keys in a fixed order, one trailing newline. */
export function formatLockFile(lock: LockFile): string {
  const pulls = [...lock.pulls]
    .sort((a, b) => byText(a.dir, b.dir) || byText(a.source, b.source))
    .map((p) => ({
      source: p.source,
      ...(p.revision !== undefined ? { revision: p.revision } : {}),
      ...(p.commit !== undefined ? { commit: p.commit } : {}),
      dir: p.dir,
      // Sorted and deduplicated: the same set of patterns in another order is the same pull (and the same bytes).
      include: [...new Set(p.include)].sort(byText),
      exclude: [...new Set(p.exclude)].sort(byText),
      files: [...p.files]
        .sort((a, b) => byText(a.path, b.path))
        .map((f) => ({
          path: f.path,
          size: f.size,
          ...(f.sha256 !== undefined ? { sha256: f.sha256 } : {}),
          ...(f.gitBlobId !== undefined ? { gitBlobId: f.gitBlobId } : {}),
          ...(f.id !== undefined ? { id: f.id } : {}),
        })),
    }));
  return `${JSON.stringify({ lockfileVersion: LOCKFILE_VERSION, pulls }, null, 2)}\n`;
}

/** The lock with `entry` in place of the pull of the same source into the same folder. */
export function withPull(lock: LockFile | undefined, entry: LockedPull): LockFile {
  const others = (lock?.pulls ?? []).filter((p) => !(p.dir === entry.dir && p.source === entry.source));
  return { pulls: [...others, entry] };
}

export function findPull(lock: LockFile | undefined, source: string, dir: string): LockedPull | undefined {
  return lock?.pulls.find((p) => p.dir === dir && p.source === source);
}

/**
 * Records one pull in the lock file: read it afresh, put this pull in, write
 * it back atomically, all under a short writer lock (`<lock>.writing`), so
 * two pulls into different folders that share one lock file (`make -j`,
 * parallel npm scripts) both end up in it instead of the last writer's copy
 * winning. A writer lock left by a dead process, or older than a minute, is
 * taken over; waiting for a live one gives up after 30 s.
 */
export async function recordPull(path: string, entry: LockedPull): Promise<void> {
  const guard = `${path}.writing`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await writeFile(guard, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw toDlrError(error, { path: guard });
      if (await staleGuard(guard)) {
        await unlink(guard).catch(() => undefined);
        continue;
      }
      if (Date.now() > deadline) throw new DlrError('locked', `another dlr pull is writing ${path} (${guard}); try again later`);
      await new Promise((r) => setTimeout(r, 25 + Math.random() * 25));
    }
  }
  try {
    await writeLockFile(path, withPull(await readLockFile(path), entry));
  } finally {
    await unlink(guard).catch(() => undefined);
  }
}

async function staleGuard(guard: string): Promise<boolean> {
  try {
    const [text, st] = await Promise.all([readFile(guard, 'utf8'), stat(guard)]);
    const pid = Number(text.trim());
    if (Date.now() - st.mtimeMs > 60_000) return true;
    if (!Number.isSafeInteger(pid) || pid <= 0) return false;
    try {
      process.kill(pid, 0);
      return false;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'ESRCH';
    }
  } catch {
    return false;
  }
}

export async function writeLockFile(path: string, lock: LockFile): Promise<void> {
  try {
    await writeFileAtomic(path, formatLockFile(lock));
  } catch (error) {
    throw toDlrError(error, { path });
  }
}
