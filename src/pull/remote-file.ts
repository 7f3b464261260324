/** One file of a repository listing, as the site publishes it (untrusted until checked). */
export interface RemoteFile {
  /** The path inside the repository (`onnx/model.onnx`); for Civitai, the file's name. */
  readonly path: string;
  readonly size: number;
  /** LFS files (the Hub) and every Civitai file. */
  readonly sha256?: string;
  /** The Hub's small (non-LFS) files: their git blob id. */
  readonly gitBlobId?: string;
  /** Civitai's file id. */
  readonly id?: number;
  /** Civitai publishes sizes rounded (float KiB): how far off the size may be. */
  readonly sizeTolerance?: number;
}

/** A listing resolved once: the commit (Hub) every file is then fetched from, and the files. */
export interface RemoteListing {
  readonly commit?: string;
  /** The Hub's `gated` flag: files need a token of someone who accepted the terms. */
  readonly gated: boolean;
  readonly files: readonly RemoteFile[];
}

/** A listing this long is not a model repository; the JSON is capped at 8 MiB by fetchJson too. */
export const MAX_LISTED_FILES = 50_000;
