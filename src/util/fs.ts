import { randomBytes } from 'node:crypto';
import { lstat, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** True if anything (file, directory, link, even a dangling one) is at `path`. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** A directory (not a symlink to one: a link is replaced by the rename, never written through). */
export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * A temp name beside `path` for write-then-rename. Short (a name already at
 * NAME_MAX still gets a sibling) and carrying our pid, so a temp orphaned by
 * a kill between the write and the rename can be recognised and removed.
 */
export function tempPathBeside(path: string): string {
  return join(dirname(path), `.dlr-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Writes a small file so that a reader (another run, a metrics collector)
 * sees either the old content or the new, never half: a temp file beside
 * it, then a rename. The temp is removed if the write fails.
 */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const tmp = tempPathBeside(path);
  try {
    await writeFile(tmp, text);
    await rename(tmp, path);
  } catch (error) {
    await unlink(tmp).catch(() => undefined);
    throw error;
  }
}

/** Temp files and set-aside stale locks, each naming the pid that made it. */
const ORPHAN = /^\.dlr(?:-(\d+)-[0-9a-f]+\.tmp|\.lock\.stale-(\d+)-[0-9a-f]+)$/;

/**
 * Removes what killed runs left in `dir`: temps and set-aside locks whose
 * maker is no longer alive. A live maker may still be mid-rename: left alone.
 */
export async function removeOrphans(dir: string, isAlive: (pid: number) => boolean): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const match = ORPHAN.exec(name);
    const pid = Number(match?.[1] ?? match?.[2]);
    if (match && pid !== process.pid && !isAlive(pid)) await unlink(join(dir, name)).catch(() => undefined);
  }
}
