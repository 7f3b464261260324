import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendHistory } from '../../src/history/append-history.js';
import { normalizeModelType, priorityOf } from '../../src/domain/model-type.js';
import { planDownloads } from '../../src/history/plan.js';
import { HISTORY_LIMITS, readHistory } from '../../src/history/read-history.js';
import { UsageError } from '../../src/errors.js';
import { makeTempDir } from '../helpers/temp-dir.js';

let dir: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await dir.cleanup();
});

async function historyFrom(content: string | Buffer) {
  const path = join(dir.path, 'history.csv');
  await writeFile(path, content);
  return readHistory(path);
}

const dirFor = (type: string) => `/models/${type}`;

describe('normalizeModelType', () => {
  it.each([
    ['Checkpoint', 'checkpoint'],
    ['LORA', 'lora'],
    ['LoCon', 'lora'],
    ['LyCORIS', 'lora'],
    ['DoRA', 'lora'],
    ['TextualInversion', 'embedding'],
    ['Textual Inversion', 'embedding'],
    ['embedding', 'embedding'],
    ['VAE', 'vae'],
    ['', 'other'],
  ])('maps %j to %j', (raw, type) => {
    expect(normalizeModelType(raw)).toBe(type);
  });

  it('orders checkpoint, lora, embedding, then everything else', () => {
    expect(['vae', 'embedding', 'lora', 'checkpoint'].sort((a, b) => priorityOf(a) - priorityOf(b))).toEqual(['checkpoint', 'lora', 'embedding', 'vae']);
  });
});

describe('readHistory + planDownloads', () => {
  it('sorts the seed example checkpoint → lora → embedding, keeping history order within a type (seed case 1)', async () => {
    const history = await historyFrom(
      [
        'timestamp,model_type,url,filename',
        '2024-10-24 10:00:00,lora,https://civitai.com/1,lora1.safetensors',
        '2024-10-24 10:01:00,checkpoint,https://civitai.com/2,checkpoint1.safetensors',
        '2024-10-24 10:02:00,embedding,https://civitai.com/3,embedding1.pt',
        '2024-10-24 10:03:00,lora,https://civitai.com/4,lora2.safetensors',
      ].join('\n'),
    );
    expect((await planDownloads(history.rows, dirFor)).map((e) => e.filename)).toEqual([
      'checkpoint1.safetensors',
      'lora1.safetensors',
      'lora2.safetensors',
      'embedding1.pt',
    ]);
  });

  it('reads BOM, CRLF, quoted fields with commas and newlines, and ignores extra columns', async () => {
    const history = await historyFrom(
      '\uFEFFtimestamp,model_type,url,filename,note\r\n' +
        '2024-01-01,Checkpoint,https://h/a,"a, with comma.safetensors",x\r\n' +
        '2024-01-02,LORA,https://h/b,"multi\nline.safetensors",y\r\n',
    );
    expect(history.invalid).toEqual([]);
    expect(history.rows.map((r) => [r.type, r.filename])).toEqual([
      ['checkpoint', 'a, with comma.safetensors'],
      ['lora', 'multi\nline.safetensors'],
    ]);
  });

  it('dedupes by URL: the last row wins, at the first position', async () => {
    const history = await historyFrom(
      [
        'timestamp,model_type,url,filename',
        't1,lora,https://h/x,old-name.safetensors',
        't2,lora,https://h/y,y.safetensors',
        't3,lora,HTTPS://H/x,new-name.safetensors',
      ].join('\n'),
    );
    const plan = await planDownloads(history.rows, dirFor);
    expect(plan.map((e) => e.filename)).toEqual(['new-name.safetensors', 'y.safetensors']);
    expect(plan[0]?.path).toBe('/models/lora/new-name.safetensors');
  });

  it('reports bad rows with their line numbers and keeps the rest', async () => {
    const history = await historyFrom(
      ['timestamp,model_type,url,filename', 't,lora,,a.bin', 't,lora,not a url,b.bin', 't,lora,ftp://h/c,c.bin', 't,lora,https://h/d,d.bin'].join('\n'),
    );
    expect(history.rows.map((r) => r.filename)).toEqual(['d.bin']);
    expect(history.invalid.map((r) => [r.line, r.error.code])).toEqual([
      [2, 'invalid-row'],
      [3, 'invalid-row'],
      [4, 'invalid-row'],
    ]);
    expect(history.invalid[2]?.error.message).toMatch(/line 4: unsupported URL scheme ftp:/);
  });

  it('reports a short first row as an invalid row instead of rejecting the header', async () => {
    const history = await historyFrom('timestamp,model_type,url,filename\n2024,lora\n2024,lora,https://h/a,a.bin\n');
    expect(history.rows.map((r) => r.filename)).toEqual(['a.bin']);
    expect(history.invalid.map((r) => [r.line, r.error.message])).toEqual([[2, 'line 2: empty URL']]);
  });

  it('ignores rows of bare commas that spreadsheets export', async () => {
    const history = await historyFrom('timestamp,model_type,url,filename\n,,,\nt,lora,https://h/a,a.bin\n , , ,\n');
    expect(history.rows).toHaveLength(1);
    expect(history.invalid).toEqual([]);
  });

  it('never repeats credentials from a bad URL in its message', async () => {
    const history = await historyFrom('timestamp,model_type,url,filename\nt,lora,https://user:s3cret@ bad host/x?token=abc,a.bin\n');
    expect(history.invalid[0]?.error.message).not.toMatch(/s3cret|abc/);
  });

  it('reduces hostile file names to a base name inside the type folder', async () => {
    const history = await historyFrom(['timestamp,model_type,url,filename', 't,lora,https://h/a,../../../etc/passwd'].join('\n'));
    expect((await planDownloads(history.rows, dirFor))[0]?.path).toBe('/models/lora/passwd');
  });

  it('reads back the failures CSV formula escaping', async () => {
    const history = await historyFrom(["timestamp,model_type,url,filename", "t,lora,https://h/a,'=cmd.safetensors", "t,lora,https://h/b,'＠b.bin"].join('\n'));
    expect(history.rows.map((r) => r.filename)).toEqual(['=cmd.safetensors', '＠b.bin']);
  });

  it.each([
    ['an empty file', '', /is empty/],
    ['no header', 'https://h/a,a.bin\n', /missing column/],
    ['a wrong header', 'time,type,link,name\n1,lora,https://h/a,a\n', /missing columns model_type, url, filename/],
    ['an unterminated quote', 'timestamp,model_type,url,filename\nt,lora,"https://h/a,a.bin\n', /line 2.*[Qq]uote/],
    ['NUL bytes', Buffer.from('timestamp,model_type,url,filename\n\0\0\0\n'), /NUL/],
    ['UTF-16', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('timestamp', 'utf16le')]), /UTF-16/],
    ['Latin-1 bytes', Buffer.from('timestamp,model_type,url,filename\nt,lora,https://h/a,caf\xe9.bin\n', 'latin1'), /not valid UTF-8/],
  ])('rejects %s as a usage error naming the file', async (_label, content, message) => {
    const promise = historyFrom(content);
    await expect(promise).rejects.toThrow(UsageError);
    await expect(historyFrom(content)).rejects.toThrow(message);
    await expect(historyFrom(content)).rejects.toThrow(/history\.csv/);
  });

  it('says where to set the history when the file is missing', async () => {
    await expect(readHistory(join(dir.path, 'nope.csv'))).rejects.toThrow(/not found.*--history/);
  });
});

describe('readHistory: caps and damage stay within their row', () => {
  const header = 'timestamp,model_type,url,filename';

  it('reports a row past the row cap as invalid-row naming its line, and reads the rows after it', async () => {
    const history = await historyFrom(
      [header, 't,lora,https://h/a,a.bin', `t,lora,https://h/b,b.bin,${'x'.repeat(HISTORY_LIMITS.rowChars)}`, 't,lora,https://h/c,c.bin', ''].join('\n'),
    );
    expect(history.rows.map((r) => [r.line, r.filename])).toEqual([
      [2, 'a.bin'],
      [4, 'c.bin'],
    ]);
    expect(history.invalid.map((r) => [r.line, r.error.code, r.error.message])).toEqual([[3, 'invalid-row', `line 3: the row is longer than ${HISTORY_LIMITS.rowChars} characters`]]);
  });

  it('counts a quoted field with line breaks in the row, and past the cap skips it whole', async () => {
    const long = `"${'a\n'.repeat(HISTORY_LIMITS.rowChars)}"`;
    const history = await historyFrom([header, `t,lora,https://h/a,${long}`, 't,lora,https://h/c,c.bin'].join('\n'));
    expect(history.invalid.map((r) => r.line)).toEqual([2 + HISTORY_LIMITS.rowChars]);
    expect(history.rows.map((r) => [r.line, r.filename])).toEqual([[3 + HISTORY_LIMITS.rowChars, 'c.bin']]);
  });

  it.each([
    ['URL', `t,lora,https://h/${'u'.repeat(HISTORY_LIMITS.urlChars)},a.bin`, `the URL is longer than ${HISTORY_LIMITS.urlChars} characters`],
    ['filename', `t,lora,https://h/a,${'f'.repeat(HISTORY_LIMITS.filenameChars + 1)}`, `the filename is longer than ${HISTORY_LIMITS.filenameChars} characters`],
    ['model_type', `t,${'m'.repeat(HISTORY_LIMITS.modelTypeChars + 1)},https://h/a,a.bin`, `the model_type is longer than ${HISTORY_LIMITS.modelTypeChars} characters`],
  ])('reports a %s past its cap as invalid-row', async (_label, line, message) => {
    const history = await historyFrom([header, line, 't,lora,https://h/ok,ok.bin'].join('\n'));
    expect(history.invalid.map((r) => r.error.message)).toEqual([`line 2: ${message}`]);
    expect(history.rows.map((r) => r.filename)).toEqual(['ok.bin']);
  });

  it('keeps fields at their caps', async () => {
    const url = `https://h/${'u'.repeat(HISTORY_LIMITS.urlChars - 'https://h/'.length)}`;
    const history = await historyFrom([header, `t,lora,${url},${'f'.repeat(HISTORY_LIMITS.filenameChars)}`].join('\n'));
    expect(history.invalid).toEqual([]);
    expect(history.rows[0]?.url).toBe(url);
  });

  it('refuses a header past the row cap as a usage error naming the file', async () => {
    await expect(historyFrom(`${header},${'n'.repeat(HISTORY_LIMITS.rowChars)}\nt,lora,https://h/a,a.bin\n`)).rejects.toThrow(/history\.csv: line 1: the header cannot be read/);
  });

  it('reports text after a closing quote as invalid-row, not as a broken file', async () => {
    const history = await historyFrom([header, 't,lora,"https://h/a"x,a.bin', 't,lora,https://h/b,b.bin'].join('\n'));
    expect(history.invalid.map((r) => r.error.message)).toEqual(['line 2: text after the closing quote of field 3']);
    expect(history.rows.map((r) => r.filename)).toEqual(['b.bin']);
  });

  it('reads escaped quotes, a quote inside an unquoted field, and empty quoted fields', async () => {
    const history = await historyFrom([header, 't,lora,https://h/a,"say ""hi"".bin"', 't,lora,https://h/b,12" vinyl.bin', 't,"",https://h/c,c.bin'].join('\n'));
    expect(history.rows.map((r) => [r.type, r.filename])).toEqual([
      ['lora', 'say "hi".bin'],
      ['lora', '12" vinyl.bin'],
      ['other', 'c.bin'],
    ]);
  });

  it('reads LF, CRLF and CR line ends, mixed in one file, with the right line numbers', async () => {
    const history = await historyFrom(`${header}\r\nt,lora,https://h/a,a.bin\r\n\r\nt,lora,https://h/b,b.bin\nt,lora,https://h/c,c.bin\rt,lora,https://h/d,"d\r\n.bin"\nt,lora,,e.bin`);
    expect(history.rows.map((r) => [r.line, r.filename])).toEqual([
      [2, 'a.bin'],
      [4, 'b.bin'],
      [5, 'c.bin'],
      [7, 'd\r\n.bin'],
    ]);
    expect(history.invalid.map((r) => r.error.message)).toEqual(['line 8: empty URL']);
  });

  it('stops with interrupted when the signal has aborted', async () => {
    const path = join(dir.path, 'history.csv');
    await writeFile(path, [header, ...Array.from({ length: 5000 }, (_, i) => `t,lora,https://h/${i},${i}.bin`)].join('\n'));
    const controller = new AbortController();
    controller.abort();
    await expect(readHistory(path, { signal: controller.signal })).rejects.toMatchObject({ code: 'interrupted' });
    const history = await readHistory(path);
    await expect(planDownloads(history.rows, dirFor, { signal: controller.signal })).rejects.toMatchObject({ code: 'interrupted' });
  });
});

describe('appendHistory', () => {
  it('creates the file with a header, then appends without rewriting', async () => {
    const path = join(dir.path, 'sub', 'h.csv');
    await appendHistory(path, { timestamp: new Date(2024, 0, 2, 3, 4, 5), modelType: 'lora', url: 'https://h/a', filename: 'a.safetensors' });
    await appendHistory(path, { timestamp: new Date(2024, 0, 2, 3, 4, 6), modelType: 'checkpoint', url: 'https://h/b', filename: 'b,c.safetensors' });
    expect(await readFile(path, 'utf8')).toBe(
      'timestamp,model_type,url,filename\n2024-01-02 03:04:05,lora,https://h/a,a.safetensors\n2024-01-02 03:04:06,checkpoint,https://h/b,"b,c.safetensors"\n',
    );
    expect((await readHistory(path)).rows).toHaveLength(2);
  });

  it("writes the new row in the file's own column order", async () => {
    const path = join(dir.path, 'h.csv');
    await writeFile(path, 'url,filename,note,model_type,timestamp\nhttps://h/a,a.bin,x,lora,t\n');
    await appendHistory(path, { timestamp: new Date(2024, 0, 2, 3, 4, 5), modelType: 'lora', url: 'https://h/b', filename: 'b.bin' });
    expect((await readFile(path, 'utf8')).trim().split('\n').at(-1)).toBe('https://h/b,b.bin,,lora,2024-01-02 03:04:05');
    expect((await readHistory(path)).rows.map((r) => r.filename)).toEqual(['a.bin', 'b.bin']);
  });

  it.each([
    ['ending in CRLF', '\r\n'],
    ['without a final CRLF', ''],
  ])("appends to a CRLF history %s in CRLF, so every row reads back", async (_label, tail) => {
    const path = join(dir.path, 'h.csv');
    await writeFile(path, `\uFEFFtimestamp,model_type,url,filename\r\nt,lora,https://h/a,a.bin${tail}`);
    await appendHistory(path, { timestamp: new Date(2024, 0, 2, 3, 4, 5), modelType: 'lora', url: 'https://h/b', filename: 'b.bin' });
    await appendHistory(path, { timestamp: new Date(2024, 0, 2, 3, 4, 6), modelType: 'embedding', url: 'https://h/c', filename: 'c.pt' });
    const text = await readFile(path, 'utf8');
    expect(text.replace(/\r\n/g, '')).not.toContain('\n');
    expect(text.endsWith('c.pt\r\n')).toBe(true);
    expect((await readHistory(path)).rows.map((r) => r.filename)).toEqual(['a.bin', 'b.bin', 'c.pt']);
  });

  it('adds the missing newline before appending to a file that lacks one', async () => {
    const path = join(dir.path, 'h.csv');
    await writeFile(path, 'timestamp,model_type,url,filename\nt,lora,https://h/a,a.bin');
    await appendHistory(path, { timestamp: new Date(), modelType: 'lora', url: 'https://h/b', filename: 'b.bin' });
    expect((await readHistory(path)).rows.map((r) => r.filename)).toEqual(['a.bin', 'b.bin']);
  });
});
