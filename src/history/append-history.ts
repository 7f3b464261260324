import { mkdir, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { toDlrError } from '../errors.js';
import { HISTORY_COLUMNS } from './read-history.js';

export interface NewHistoryRow {
  readonly timestamp: Date;
  readonly modelType: string;
  readonly url: string;
  readonly filename: string;
}

/**
 * Appends one row to the history CSV, creating it with a header if needed.
 * Append-only: the file is never rewritten, so a concurrent reader or an
 * interrupted write can lose at most the new line, never the history.
 */
export async function appendHistory(path: string, row: NewHistoryRow): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true });
    const size = await stat(path).then(
      (st) => st.size,
      () => -1,
    );
    // Fields go in the file's own column order (a history may have them reordered or carry extra columns).
    // And in its own line ending: a CRLF history (Python's csv module writes
    // one) with LF rows appended reads back as rows run together.
    const { columns, eol } = size > 0 ? await readHeader(path) : { columns: [...HISTORY_COLUMNS], eol: '\n' };
    const values: Record<string, string> = {
      timestamp: formatTimestamp(row.timestamp),
      model_type: row.modelType,
      url: row.url,
      filename: row.filename,
    };
    const handle = await open(path, 'a');
    try {
      let prefix = '';
      if (size <= 0) prefix = `${HISTORY_COLUMNS.join(',')}${eol}`;
      else if (!(await endsWithNewline(path, size))) prefix = eol;
      const line = stringify([columns.map((c) => values[c] ?? '')], { escape_formulas: true, record_delimiter: eol });
      await handle.write(prefix + line);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw toDlrError(error, { path });
  }
}

async function readHeader(path: string): Promise<{ columns: string[]; eol: '\n' | '\r\n' }> {
  const handle = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(64 * 1024), 0, 64 * 1024, 0);
    const text = buffer.subarray(0, bytesRead).toString('utf8').replace(/^\uFEFF/, '');
    const firstLine = text.split(/\r?\n/, 1)[0] ?? '';
    const [names] = parse(firstLine) as string[][];
    const eol = text.charAt(firstLine.length) === '\r' ? '\r\n' : '\n';
    return { columns: (names ?? []).map((n) => n.trim().toLowerCase()), eol };
  } finally {
    await handle.close();
  }
}

async function endsWithNewline(path: string, size: number): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const { buffer } = await handle.read(Buffer.alloc(1), 0, 1, size - 1);
    return buffer[0] === 0x0a;
  } finally {
    await handle.close();
  }
}

/** The seed's `2024-10-24 10:00:00` form, in local time. */
function formatTimestamp(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())} ${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}`;
}
