import { mkdir, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
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
    const handle = await open(path, 'a');
    try {
      let prefix = '';
      if (size <= 0) prefix = `${HISTORY_COLUMNS.join(',')}\n`;
      else if (!(await endsWithNewline(path, size))) prefix = '\n';
      const line = stringify([[formatTimestamp(row.timestamp), row.modelType, row.url, row.filename]], {
        escape_formulas: true,
      });
      await handle.write(prefix + line);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw toDlrError(error, { path });
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
