import { isUtf8 } from 'node:buffer';
import { readFile, stat } from 'node:fs/promises';
import { DlrError, UsageError } from '../errors.js';
import { redactUrl } from '../http/credentials.js';
import { TimeSlice } from '../util/time-slice.js';
import { csvRecords, CsvSyntaxError } from './csv-records.js';
import { normalizeModelType } from '../domain/model-type.js';

/** The history CSV's columns, in the order dlr writes them. */
export const HISTORY_COLUMNS = ['timestamp', 'model_type', 'url', 'filename'] as const;
/** `timestamp` is informative; a file without it is still usable. */
const REQUIRED_COLUMNS = ['model_type', 'url', 'filename'] as const;

/** A history file larger than this is refused rather than read into memory. */
const MAX_HISTORY_BYTES = 256 * 1024 * 1024;

export interface HistoryRow {
  /** 1-based line in the file where the record ends (the same as where it starts unless a field spans lines). */
  readonly line: number;
  readonly timestamp: string;
  /** The type as written in the file. */
  readonly modelType: string;
  /** dlr's normalized type (checkpoint, lora, embedding, …). */
  readonly type: string;
  readonly url: string;
  readonly filename: string;
}

/** A row that cannot be downloaded; it is reported as failed with code `invalid-row` and the batch goes on. */
export interface InvalidRow {
  readonly line: number;
  readonly row: Omit<HistoryRow, 'line' | 'type'>;
  readonly error: DlrError;
}

export interface History {
  readonly path: string;
  readonly rows: readonly HistoryRow[];
  readonly invalid: readonly InvalidRow[];
}

/**
 * Caps on what one row may hold. A row past a cap is an `invalid-row`
 * naming its line, reported and skipped; the other rows are read as usual,
 * and the work a row costs stays proportional to the cap, not to its size.
 */
export const HISTORY_LIMITS = Object.freeze({
  /**
   * A whole row (a record: line breaks inside quotes count). The fields below
   * need ~12 KiB at most; the rest is room for the extra columns people keep
   * (notes, hashes, tags). A megabyte "row" is damage or an attack.
   */
  rowChars: 64 * 1024,
  /**
   * nginx's and Apache's default limit for a request line is 8 KiB: a longer
   * URL would be refused (414) after spending a request. Civitai and Hub
   * URLs, token included, are a few hundred characters.
   */
  urlChars: 8 * 1024,
  /**
   * PATH_MAX on Linux. Only the last component is used and it is cut to
   * 245 bytes (NAME_MAX less the sidecar suffix), so a longer field cannot
   * be a file name that was meant.
   */
  filenameChars: 4 * 1024,
  /** Type names are words (`checkpoint`, `TextualInversion`). */
  modelTypeChars: 256,
});

export interface ReadHistoryOptions {
  /** Aborts a long read (a very large history) with `interrupted`. */
  readonly signal?: AbortSignal;
}

/**
 * Reads a download-history CSV: UTF-8 with or without BOM, LF or CRLF,
 * quoted fields, extra columns ignored. Problems with the file as a whole
 * (missing, not UTF-8, binary, no header, a missing column, a quote that
 * never closes) are a UsageError naming the file: exit 2. Problems with one
 * row (a bad URL, a row or field past HISTORY_LIMITS) are collected as
 * `invalid` and the rest is still usable. Reading gives way to the event loop
 * every few milliseconds, so a signal is handled while a large file is read.
 */
export async function readHistory(path: string, options: ReadHistoryOptions = {}): Promise<History> {
  const text = decodeHistoryFile(path, await readHistoryBytes(path));
  const slice = new TimeSlice(options.signal);
  const rows: HistoryRow[] = [];
  const invalid: InvalidRow[] = [];
  // A history holds a handful of distinct type spellings, each on many rows.
  const types = new Map<string, string>();
  let columns: { width: number; timestamp: number; modelType: number; url: number; filename: number } | undefined;
  try {
    for (const record of csvRecords(text, HISTORY_LIMITS.rowChars)) {
      if (slice.due()) await slice.pause();
      const { line, fields } = record;
      if (columns === undefined) {
        if (fields === undefined) throw new UsageError(`history file ${path}: line ${line}: the header cannot be read: ${record.problem}`);
        const header = fields.map((h) => h.trim().toLowerCase());
        checkHeader(path, header);
        // A name given twice: the last one counts.
        columns = {
          width: header.length,
          timestamp: header.lastIndexOf('timestamp'),
          modelType: header.lastIndexOf('model_type'),
          url: header.lastIndexOf('url'),
          filename: header.lastIndexOf('filename'),
        };
        continue;
      }
      if (fields === undefined) {
        invalid.push(invalidRow(line, EMPTY_ROW, record.problem ?? 'unreadable row'));
        continue;
      }
      // Spreadsheets export blank rows as `,,,`: nothing there, nothing to report.
      if (isBlank(fields, columns.width)) continue;
      const row = {
        timestamp: field(fields, columns.timestamp),
        modelType: field(fields, columns.modelType),
        url: field(fields, columns.url).trim(),
        filename: field(fields, columns.filename),
      };
      const problem = rowProblem(row);
      if (problem) {
        invalid.push(invalidRow(line, row, problem));
        continue;
      }
      let type = types.get(row.modelType);
      if (type === undefined) types.set(row.modelType, (type = normalizeModelType(row.modelType)));
      rows.push({ line, timestamp: row.timestamp, modelType: row.modelType, type, url: row.url, filename: row.filename });
    }
  } catch (error) {
    if (error instanceof CsvSyntaxError) throw new UsageError(`history file ${path}: ${error.message}`);
    throw error;
  }
  if (columns === undefined) throw new UsageError(`history file ${path} is empty (expected a header: ${HISTORY_COLUMNS.join(',')})`);
  return { path, rows, invalid };
}

const EMPTY_ROW = Object.freeze({ timestamp: '', modelType: '', url: '', filename: '' });

function invalidRow(line: number, row: InvalidRow['row'], problem: string): InvalidRow {
  return { line, row, error: new DlrError('invalid-row', `line ${line}: ${problem}`) };
}

function field(fields: readonly string[], index: number): string {
  return index < 0 ? '' : unescapeFormula(fields[index] ?? '');
}

function isBlank(fields: readonly string[], width: number): boolean {
  // Only the header's columns count, as before: a value in an unnamed extra column is not a row.
  for (let i = 0; i < width && i < fields.length; i++) {
    const value = fields[i]!;
    // Most fields start with a visible character; only the rest need trimming to tell.
    if (value.length > 0 && value.charCodeAt(0) > 0x20 && value.charCodeAt(0) < 0x7f) return false;
    if (value.trim() !== '') return false;
  }
  return true;
}

function rowProblem(row: InvalidRow['row']): string | undefined {
  if (row.url.length > HISTORY_LIMITS.urlChars) return `the URL is longer than ${HISTORY_LIMITS.urlChars} characters`;
  if (row.filename.length > HISTORY_LIMITS.filenameChars) return `the filename is longer than ${HISTORY_LIMITS.filenameChars} characters`;
  if (row.modelType.length > HISTORY_LIMITS.modelTypeChars) return `the model_type is longer than ${HISTORY_LIMITS.modelTypeChars} characters`;
  return urlProblem(row.url);
}

async function readHistoryBytes(path: string): Promise<Buffer> {
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw new UsageError(`history file ${path} is a directory`);
    if (st.size > MAX_HISTORY_BYTES) throw new UsageError(`history file ${path} is larger than ${MAX_HISTORY_BYTES >> 20} MiB`);
    return await readFile(path);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`history file ${path} not found (set history_file in the config or pass --history)`);
    throw new UsageError(`history file ${path} cannot be read: ${code ?? String(error)}`);
  }
}

function decodeHistoryFile(path: string, bytes: Buffer): string {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    throw new UsageError(`history file ${path} is UTF-16; save it as UTF-8`);
  }
  if (bytes.includes(0)) throw new UsageError(`history file ${path} contains NUL bytes; is it a CSV file?`);
  // Checked first, then decoded: a plain decode would turn bad bytes into U+FFFD silently.
  if (!isUtf8(bytes)) throw new UsageError(`history file ${path} is not valid UTF-8; save it as UTF-8`);
  const text = bytes.toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function checkHeader(path: string, header: readonly string[]): void {
  const missing = REQUIRED_COLUMNS.filter((c) => !header.includes(c));
  if (missing.length > 0) {
    throw new UsageError(
      `history file ${path}: missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (header must be ${HISTORY_COLUMNS.join(',')})`,
    );
  }
}

function urlProblem(url: string): string | undefined {
  if (url === '') return 'empty URL';
  // The common case without building a URL object per row; anything else
  // (tabs inside, another scheme, a parse error) takes the full path below.
  if (/^https?:/i.test(url) && URL.canParse(url)) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    const shown = redactUrl(url);
    return `invalid URL ${JSON.stringify(shown.length > 80 ? `${shown.slice(0, 80)}…` : shown)}`;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return `unsupported URL scheme ${parsed.protocol}`;
  return undefined;
}

/**
 * The inverse of the failures CSV's formula escaping (`'=…`, `'+…`, `'-…`,
 * `'@…`), so a failures CSV reads back as the history it came from.
 */
function unescapeFormula(value: string): string {
  if (value.charCodeAt(0) !== 0x27) return value;
  return /^'[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/.test(value) ? value.slice(1) : value;
}
