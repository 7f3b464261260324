import { rename, rm, writeFile } from 'node:fs/promises';
import { stringify } from 'csv-stringify/sync';
import { toDlrError } from '../errors.js';
import { tempPathBeside } from '../util/fs.js';
import { HISTORY_COLUMNS } from '../history/read-history.js';
import { stripUrlCredentials } from '../http/credentials.js';
import type { BatchItem } from './types.js';

export const FAILURE_COLUMNS = [...HISTORY_COLUMNS, 'error_code', 'error_message', 'attempts', 'last_attempt_at'] as const;

/** One row per failed item; the history columns first, so the file is itself a history file. Credentials in URLs are left out. */
export function failureRows(items: readonly BatchItem[]): string[][] {
  return items.flatMap(({ subject, result, finishedAt }) =>
    result.status === 'failed'
      ? [
          [
            subject.timestamp,
            subject.modelType,
            stripUrlCredentials(subject.url),
            subject.filename,
            result.error.code,
            result.error.message,
            String(result.attempts),
            finishedAt.toISOString(),
          ],
        ]
      : [],
  );
}

/**
 * Writes the failures CSV (replacing the last run's), or removes it when
 * nothing failed. Written to a temp file and renamed, so a reader never sees
 * half a file. Cells starting with = + - @ get a leading quote so a
 * spreadsheet does not run them (OWASP CSV injection); the history reader
 * strips it again.
 */
export async function writeFailuresCsv(path: string, items: readonly BatchItem[]): Promise<number> {
  const rows = failureRows(items);
  try {
    if (rows.length === 0) {
      await rm(path, { force: true });
      return 0;
    }
    const text = stringify([[...FAILURE_COLUMNS], ...rows], { escape_formulas: true });
    const tmp = tempPathBeside(path);
    await writeFile(tmp, text, 'utf8');
    await rename(tmp, path);
    return rows.length;
  } catch (error) {
    throw toDlrError(error, { path });
  }
}
