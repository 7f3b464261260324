import { open } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { parseHttpUrl } from '../http/parse-url.js';

/** A list of URLs is kilobytes; this keeps a wrong file (a model) from being read whole. */
const MAX_LIST_BYTES = 16 * 1024 * 1024;
/** As the history's cap on a URL. */
const MAX_URL_CHARS = 8 * 1024;

/**
 * `-i FILE` as wget and aria2c read it: one URL per line; blank lines and
 * lines starting with `#` are skipped; `-` is stdin. Every URL is checked
 * before anything is fetched, and a bad one is named by its line.
 */
export async function readUrlList(path: string, stdin: NodeJS.ReadableStream): Promise<string[]> {
  const text = path === '-' ? await readCapped(stdin, '-i -') : await readFileCapped(path);
  const urls: string[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.length > MAX_URL_CHARS) throw new UsageError(`${path === '-' ? 'stdin' : path} line ${i + 1}: a URL of more than ${MAX_URL_CHARS} characters`);
    try {
      parseHttpUrl(line);
    } catch (error) {
      throw new UsageError(`${path === '-' ? 'stdin' : path} line ${i + 1}: ${(error as Error).message}`);
    }
    urls.push(line);
  }
  return urls;
}

async function readFileCapped(path: string): Promise<string> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new UsageError(`-i ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  try {
    return await readCapped(handle.createReadStream(), `-i ${path}`);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

async function readCapped(stream: NodeJS.ReadableStream, what: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.length;
    if (size > MAX_LIST_BYTES) throw new UsageError(`${what}: more than ${MAX_LIST_BYTES >> 20} MiB; not a list of URLs`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}
