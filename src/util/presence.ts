import { readdir } from 'node:fs/promises';
import { basename, dirname, sep } from 'node:path';
import { pathExists } from './fs.js';
import { mapBounded } from './bounded.js';
import { TimeSlice } from './time-slice.js';

const MISSING_FOLDER: ReadonlySet<string> = new Set();

/**
 * "Is something at this path?" for many paths in a few folders (a history's
 * type folders): each folder is listed once and names are looked up in a Set.
 * 100,000 `lstat`s took seconds even many at a time; four listings take
 * milliseconds.
 *
 * A name found in the listing is there (a file, a folder, a dangling link:
 * whatever `lstat` would find). A name not found is asked of `lstat` before
 * it counts as missing, because the listing is exact and the file system
 * may not be: on a case-insensitive or normalizing one (macOS, Windows
 * shares) `A.bin` is where the listing says `a.bin`, and treating it as
 * missing would fetch it again over the file that is there. A miss costs a
 * round trip, which a missing file is about to spend on a download anyway.
 *
 * A listing older than `maxAgeMs` is taken again, so a batch that spent
 * minutes downloading does not act on what the folder held before.
 */
export class FolderListings {
  readonly #maxAgeMs: number;
  readonly #listings = new Map<string, { at: number; names: Promise<ReadonlySet<string>> }>();

  constructor(maxAgeMs = Number.POSITIVE_INFINITY) {
    this.#maxAgeMs = maxAgeMs;
  }

  async has(path: string): Promise<boolean> {
    const [dir, name] = splitPath(path);
    const names = await this.#names(dir);
    if (names === MISSING_FOLDER) return false;
    if (names.has(name)) return true;
    return pathExists(path);
  }

  #names(dir: string): Promise<ReadonlySet<string>> {
    const now = performance.now();
    let listing = this.#listings.get(dir);
    if (listing === undefined || now - listing.at > this.#maxAgeMs) {
      // No folder, nothing in it (a first run before any download). A folder
      // that cannot be listed otherwise (no read permission) lists nothing,
      // so each name goes to lstat.
      const names = readdir(dir).then(
        (list): ReadonlySet<string> => new Set(list),
        (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' || error.code === 'ENOTDIR' ? MISSING_FOLDER : new Set<string>()),
      );
      listing = { at: now, names };
      this.#listings.set(dir, listing);
    }
    return listing.names;
  }
}

/**
 * Whether something is at each path (no path: false), for a one-off report:
 * one listing per folder, then `lstat` only for the names a listing lacks
 * (see FolderListings for why a miss is asked again).
 */
export async function pathsPresent(paths: ReadonlyArray<string | undefined>, signal?: AbortSignal): Promise<boolean[]> {
  const listed = await listedPaths(paths, signal);
  const misses = paths.flatMap((path, i) => (path !== undefined && !listed[i] ? [i] : []));
  const found = await mapBounded(misses, (i) => pathExists(paths[i]!), { signal });
  misses.forEach((i, k) => (listed[i] = found[k]!));
  return listed;
}

/**
 * Which of these paths are certainly there, from one listing per folder and
 * no other call: a name the listing holds. A name it lacks is *not* reported
 * (it may still be there on a case-insensitive file system): the caller
 * checks those one by one, and they are few on a night whose files are there.
 * Gives way to the event loop while it works, and stops on the signal.
 */
export async function listedPaths(paths: ReadonlyArray<string | undefined>, signal?: AbortSignal): Promise<boolean[]> {
  const dirs = new Map<string, Promise<ReadonlySet<string>>>();
  for (const path of paths) {
    if (path === undefined) continue;
    const [dir] = splitPath(path);
    if (!dirs.has(dir)) dirs.set(dir, readdir(dir).then((names): ReadonlySet<string> => new Set(names), () => MISSING_FOLDER));
  }
  const listings = new Map<string, ReadonlySet<string>>();
  for (const [dir, names] of dirs) listings.set(dir, await names);
  const slice = new TimeSlice(signal);
  const out = new Array<boolean>(paths.length);
  for (let i = 0; i < paths.length; i++) {
    if (slice.due()) await slice.pause();
    const path = paths[i];
    if (path === undefined) {
      out[i] = false;
      continue;
    }
    const [dir, name] = splitPath(path);
    out[i] = listings.get(dir)!.has(name);
  }
  return out;
}

/**
 * Folder and name of a path: the last separator splits them, as dirname and
 * basename do for the normalized paths a plan holds, without their per-call
 * work (100k calls). A root (`/`, `C:\\`) keeps its separator: dirname knows those.
 */
function splitPath(path: string): [dir: string, name: string] {
  const cut = Math.max(path.lastIndexOf('/'), path.lastIndexOf(sep));
  const dir = cut > 0 && path[cut - 1] !== ':' ? path.slice(0, cut) : dirname(path);
  return [dir, cut >= 0 ? path.slice(cut + 1) : basename(path)];
}
