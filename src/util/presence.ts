import { readdir } from 'node:fs/promises';
import { basename, dirname, sep } from 'node:path';
import { pathExists } from './fs.js';
import { mapBounded } from './bounded.js';

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
    // The last separator splits folder from name: what dirname and basename
    // do for the normalized paths a plan holds, without their per-call work.
    const cut = Math.max(path.lastIndexOf('/'), path.lastIndexOf(sep));
    // (A root, `/` or `C:\\`, keeps its separator: dirname knows those.)
    const names = await this.#names(cut > 0 && path[cut - 1] !== ':' ? path.slice(0, cut) : dirname(path));
    if (names === MISSING_FOLDER) return false;
    if (names.has(cut >= 0 ? path.slice(cut + 1) : basename(path))) return true;
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

/** Whether something is at each path (no path: false), for a one-off report. */
export function pathsPresent(paths: ReadonlyArray<string | undefined>, signal?: AbortSignal): Promise<boolean[]> {
  const listings = new FolderListings();
  return mapBounded(paths, (path) => (path === undefined ? Promise.resolve(false) : listings.has(path)), { signal });
}
