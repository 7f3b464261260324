/**
 * The records of a CSV text (RFC 4180: `,` between fields, `"` quotes, `""`
 * for a quote inside quotes), read in one linear pass with a cap on each
 * record, so that one hostile line costs no more than reading its bytes and
 * does not make the rest of the file unreadable.
 *
 * Why not csv-parse for this (it reads the header of an appended file, see
 * append-history.ts): its `max_record_size` makes the first long record an
 * error for the whole file, and with `skip_records_with_error` it also drops
 * the good records that follow; and it appends every byte to a growing
 * buffer, which made reading a 100,000-row history take over a second.
 *
 * Leniency, as Python's csv module and spreadsheets have it: a line may end
 * in LF, CRLF or CR (a CRLF history with LF rows appended reads back whole);
 * a quote inside an unquoted field is an ordinary character. Empty lines are
 * skipped. What stays an error for the whole file is a quote that never
 * closes: after it, no record boundary can be trusted.
 */

export interface CsvRecord {
  /** 1-based line where the record ends (where it starts, unless a quoted field spans lines). */
  readonly line: number;
  /** The fields; undefined when the record is longer than the cap (its text is skipped, not kept). */
  readonly fields: string[] | undefined;
  /** Why the record could not be read as fields, for its `invalid-row` message. */
  readonly problem?: string;
}

/** A file-level error: the line where the quote opened that never closes. */
export class CsvSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
    this.name = 'CsvSyntaxError';
  }
}

const COMMA = 0x2c;
const QUOTE = 0x22;
const CR = 0x0d;
const LF = 0x0a;

/**
 * Yields each non-empty record of `text`. A record over `maxRecordChars`
 * characters (counted from its first character to its last, line breaks
 * inside quotes included) is yielded with `fields` undefined and a problem.
 * Throws CsvSyntaxError for an unterminated quoted field.
 */
export function* csvRecords(text: string, maxRecordChars: number): Generator<CsvRecord> {
  const n = text.length;
  let i = 0;
  let line = 1;
  while (i < n) {
    const first = text.charCodeAt(i);
    if (first === LF || first === CR) {
      // An empty line: skipped, but counted.
      i += first === CR && text.charCodeAt(i + 1) === LF ? 2 : 1;
      line++;
      continue;
    }
    const start = i;
    const fields: string[] = [];
    let problem: string | undefined;
    for (;;) {
      let value: string;
      if (text.charCodeAt(i) === QUOTE) {
        const openedOn = line;
        value = '';
        i++;
        for (;;) {
          const close = text.indexOf('"', i);
          if (close < 0) throw new CsvSyntaxError(`line ${openedOn}: a quoted field that never closes (a missing quote?)`, openedOn);
          line += lineBreaks(text, i, close);
          // Nothing is kept once the record is over the cap: its text is only scanned.
          if (close - start <= maxRecordChars) value += text.slice(i, close);
          if (text.charCodeAt(close + 1) === QUOTE) {
            if (close - start <= maxRecordChars) value += '"';
            i = close + 2;
            continue;
          }
          i = close + 1;
          break;
        }
        const next = i < n ? text.charCodeAt(i) : LF;
        if (next !== COMMA && next !== LF && next !== CR) {
          problem ??= `text after the closing quote of field ${fields.length + 1}`;
          const end = fieldEnd(text, i);
          value += text.slice(i, end);
          i = end;
        }
      } else {
        const end = fieldEnd(text, i);
        value = text.slice(i, end);
        i = end;
      }
      if (i - start <= maxRecordChars) fields.push(value);
      if (i < n && text.charCodeAt(i) === COMMA) {
        i++;
        continue;
      }
      break;
    }
    const length = i - start;
    const endLine = line;
    if (i < n) {
      // The line break that ends the record.
      i += text.charCodeAt(i) === CR && text.charCodeAt(i + 1) === LF ? 2 : 1;
      line++;
    }
    if (length > maxRecordChars) {
      yield { line: endLine, fields: undefined, problem: `the row is longer than ${maxRecordChars} characters` };
    } else if (problem !== undefined) {
      yield { line: endLine, fields: undefined, problem };
    } else {
      yield { line: endLine, fields };
    }
  }
}

/** Index of the `,` or line break that ends an unquoted field (or the end of the text). */
function fieldEnd(text: string, from: number): number {
  const n = text.length;
  let i = from;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === COMMA || c === LF || c === CR) break;
    i++;
  }
  return i;
}

/** Line breaks in text[from, to): CRLF, LF and a lone CR each count once. */
function lineBreaks(text: string, from: number, to: number): number {
  let count = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === LF) count++;
    else if (c === CR && text.charCodeAt(i + 1) !== LF) count++;
  }
  return count;
}
