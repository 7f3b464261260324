import { readFile, stat } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { CsvError } from 'csv-parse';
import { DlrError, UsageError } from '../errors.js';
import { redactUrl } from '../http/credentials.js';
import { normalizeModelType } from './model-type.js';

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
 * Reads a download-history CSV: UTF-8 with or without BOM, LF or CRLF,
 * quoted fields, extra columns ignored. Problems with the file as a whole
 * (missing, not UTF-8, binary, no header, a missing column, broken quoting)
 * are a UsageError naming the file: exit 2. Problems with one row are
 * collected as `invalid` and the rest is still usable.
 */
export async function readHistory(path: string): Promise<History> {
  const text = decodeHistoryFile(path, await readHistoryBytes(path));
  let records: Array<{ record: Record<string, string>; info: { lines: number } }>;
  let header: string[] | undefined;
  try {
    records = parse(text, {
      columns: (names: string[]) => (header = names.map((h) => h.trim().toLowerCase())),
      info: true,
      skip_empty_lines: true,
      relax_column_count: true,
      trim: false,
    }) as typeof records;
  } catch (error) {
    const where = error instanceof CsvError && typeof error.lines === 'number' ? ` line ${error.lines}:` : '';
    throw new UsageError(`history file ${path}:${where} ${error instanceof Error ? error.message : String(error)}`);
  }
  if (header === undefined) throw new UsageError(`history file ${path} is empty (expected a header: ${HISTORY_COLUMNS.join(',')})`);
  checkHeader(path, header);

  const rows: HistoryRow[] = [];
  const invalid: InvalidRow[] = [];
  for (const { record, info } of records) {
    // Spreadsheets export blank rows as `,,,`: nothing there, nothing to report.
    if (Object.values(record).every((v) => v.trim() === '')) continue;
    const row = {
      timestamp: unescapeFormula(record.timestamp ?? ''),
      modelType: unescapeFormula(record.model_type ?? ''),
      url: unescapeFormula(record.url ?? '').trim(),
      filename: unescapeFormula(record.filename ?? ''),
    };
    const problem = urlProblem(row.url);
    if (problem) {
      invalid.push({ line: info.lines, row, error: new DlrError('invalid-row', `line ${info.lines}: ${problem}`) });
      continue;
    }
    rows.push({ line: info.lines, ...row, type: normalizeModelType(row.modelType) });
  }
  return { path, rows, invalid };
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
  try {
    // `fatal` makes invalid UTF-8 an error instead of silent U+FFFD; the BOM is dropped.
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new UsageError(`history file ${path} is not valid UTF-8; save it as UTF-8`);
  }
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
  return /^'[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/.test(value) ? value.slice(1) : value;
}
