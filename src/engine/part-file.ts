import { constants as fsc } from 'node:fs';
import { lstat, mkdir, open, readFile, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { toDlrError } from '../errors.js';
import { tempPathBeside } from '../util/fs.js';

export const SIDECAR_VERSION = 1;

/**
 * What is remembered beside `<final>.part` so a later run can resume it
 * safely. Versioned: segmented downloads will add their ranges here.
 */
export interface Sidecar {
  readonly version: typeof SIDECAR_VERSION;
  /** The URL the part was requested from (before redirects, never with secrets shown elsewhere). */
  readonly url: string;
  readonly etag?: string;
  readonly lastModified?: string;
  /** The full size of the file, when the server told us. */
  readonly total?: number;
}

export function partPathFor(finalPath: string): string {
  return `${finalPath}.part`;
}

export function sidecarPathFor(finalPath: string): string {
  return `${finalPath}.part.json`;
}

/**
 * `<final>.part` and its sidecar. The invariant kept here: a part on disk is
 * always described by the sidecar beside it, so bytes of two versions of a
 * file are never spliced. Hence the order of operations below: remove the
 * old part before writing a new sidecar, and the sidecar before the first
 * byte of a new part.
 */
export class PartFile {
  readonly finalPath: string;
  readonly partPath: string;
  readonly sidecarPath: string;

  constructor(finalPath: string) {
    this.finalPath = finalPath;
    this.partPath = partPathFor(finalPath);
    this.sidecarPath = sidecarPathFor(finalPath);
  }

  /** Bytes in the part (0 if none) and its sidecar, if readable. A part that is not a regular file (a planted symlink) is removed, never followed. */
  async inspect(): Promise<{ offset: number; sidecar: Sidecar | undefined }> {
    let offset = 0;
    try {
      const st = await lstat(this.partPath);
      if (st.isFile()) offset = st.size;
      else await rm(this.partPath, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw toDlrError(error, { path: this.partPath });
    }
    return { offset, sidecar: await this.#readSidecar() };
  }

  async #readSidecar(): Promise<Sidecar | undefined> {
    let text: string;
    try {
      const st = await lstat(this.sidecarPath);
      if (!st.isFile() || st.size > 64 * 1024) return undefined;
      text = await readFile(this.sidecarPath, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const data = JSON.parse(text) as Partial<Sidecar>;
      if (data.version !== SIDECAR_VERSION || typeof data.url !== 'string') return undefined;
      if (data.total !== undefined && !Number.isSafeInteger(data.total)) return undefined;
      return {
        version: SIDECAR_VERSION,
        url: data.url,
        ...(typeof data.etag === 'string' ? { etag: data.etag } : {}),
        ...(typeof data.lastModified === 'string' ? { lastModified: data.lastModified } : {}),
        ...(data.total !== undefined ? { total: data.total } : {}),
      };
    } catch {
      return undefined;
    }
  }

  /** Written to a temp name and renamed, so a crash never leaves half a sidecar. */
  async writeSidecar(sidecar: Sidecar): Promise<void> {
    const tmp = tempPathBeside(this.sidecarPath);
    try {
      await mkdir(dirname(this.finalPath), { recursive: true });
      await writeFile(tmp, `${JSON.stringify(sidecar)}\n`, { flag: 'w', mode: 0o600 });
      await rename(tmp, this.sidecarPath);
    } catch (error) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw toDlrError(error, { path: this.sidecarPath });
    }
  }

  /** Removes part and sidecar. */
  async discard(): Promise<void> {
    await rm(this.partPath, { force: true });
    await rm(this.sidecarPath, { force: true });
  }

  /**
   * Opens the part for writing. O_NOFOLLOW: if something planted a symlink
   * at the part path since `inspect`, the open fails instead of writing
   * through it.
   */
  async open(mode: 'append' | 'create'): Promise<FileHandle> {
    const flags =
      mode === 'append'
        ? fsc.O_WRONLY | fsc.O_APPEND | fsc.O_NOFOLLOW
        : fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;
    try {
      await mkdir(dirname(this.partPath), { recursive: true });
      return await open(this.partPath, flags, 0o644);
    } catch (error) {
      throw toDlrError(error, { path: this.partPath });
    }
  }

  /**
   * Makes the part the final file: rename is atomic, so the final name
   * only ever shows a complete file, and an existing final file is replaced
   * only now. The directory is fsynced so the rename survives a power cut.
   */
  async commit(): Promise<void> {
    try {
      await rename(this.partPath, this.finalPath);
      await syncDirectory(dirname(this.finalPath));
      await rm(this.sidecarPath, { force: true });
    } catch (error) {
      throw toDlrError(error, { path: this.finalPath });
    }
  }
}

async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, fsc.O_RDONLY);
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on directories; the rename still happened.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/**
 * A Writable over a FileHandle: batches queued chunks into one writev, and
 * counts only bytes the OS accepted, so `written` is what is really in the
 * part. Backpressure comes from `highWaterMark`.
 */
export class PartWriter extends Writable {
  readonly #handle: FileHandle;
  readonly #path: string;
  written = 0;

  constructor(handle: FileHandle, path: string, highWaterMark: number) {
    super({ highWaterMark });
    this.#handle = handle;
    this.#path = path;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#writeAll([chunk]).then(() => callback(), callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.#writeAll(chunks.map((c) => c.chunk)).then(() => callback(), callback);
  }

  /** write(2) may accept fewer bytes than offered; loop until all are on disk. */
  async #writeAll(buffers: Buffer[]): Promise<void> {
    let pending = buffers;
    try {
      while (pending.length > 0) {
        const { bytesWritten } = await this.#handle.writev(pending);
        this.written += bytesWritten;
        pending = dropBytes(pending, bytesWritten);
      }
    } catch (error) {
      throw toDlrError(error, { path: this.#path });
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#handle.sync().then(
      () => callback(),
      (error: unknown) => callback(toDlrError(error, { path: this.#path })),
    );
  }
}

function dropBytes(buffers: Buffer[], count: number): Buffer[] {
  let left = count;
  const rest: Buffer[] = [];
  for (const buffer of buffers) {
    if (left >= buffer.length) {
      left -= buffer.length;
    } else {
      rest.push(left > 0 ? buffer.subarray(left) : buffer);
      left = 0;
    }
  }
  return rest;
}
