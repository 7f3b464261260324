import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { sameSha256 } from '../engine/hashing.js';
import { DlrError, toDlrError } from '../errors.js';
import { readBodyText } from '../http/read-body.js';
import { errorForStatus, header, messageFromErrorBody } from '../http/status-error.js';
import { resolveSource } from '../sources/resolve-source.js';
import { USER_AGENT } from '../version.js';
import type { RunSettings } from './settings.js';

export interface StreamOutcome {
  readonly bytes: number;
  /** The body matched the hash its source published; false when there was none to check. */
  readonly verified: boolean;
}

/**
 * `dlr download URL -o -`: the body straight to `out`, as `curl URL` does.
 * There is no file, so there is no part, no resume and no retry once a byte
 * is out (a retry would repeat bytes the reader already has); the source
 * still resolves the URL, and a hash it publishes is checked at the end — a
 * mismatch is reported and fails the run, though the bytes are out.
 */
export async function streamToOutput(
  settings: RunSettings,
  request: { readonly url: string; readonly headers: Readonly<Record<string, string>>; readonly signal: AbortSignal },
  out: NodeJS.WritableStream,
): Promise<StreamOutcome> {
  const client = settings.openClient();
  try {
    const resolved = await resolveSource(request.url, { settings: settings.sources, client, signal: request.signal });
    const res = await client.send({
      url: resolved.url,
      headers: { 'user-agent': USER_AGENT, 'accept-encoding': 'identity', ...resolved.headers, ...request.headers },
      signal: request.signal,
    });
    const ok = res.status >= 200 && res.status < 300;
    const body = ok ? undefined : (await readBodyText(res.body, 16 * 1024).catch(() => ({ text: '' }))).text;
    const vetoed = resolved.inspect?.({ status: res.status, headers: res.headers, url: res.url, requestedUrl: resolved.url, ...(body !== undefined ? { body } : {}) });
    if (vetoed) throw vetoed;
    if (!ok) throw errorForStatus(res.status, res.headers, messageFromErrorBody(body ?? '', header(res.headers, 'content-type')));
    const expected = resolved.expect?.sha256;
    const hash = expected === undefined ? undefined : createHash('sha256');
    let bytes = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      hash?.update(chunk);
      bytes += chunk.length;
      // The reader's pace: a slow pipe holds the socket instead of filling memory.
      if (!out.write(chunk)) await once(out, 'drain', { signal: request.signal });
    }
    if (hash !== undefined && !sameSha256(hash.digest('hex'), expected!)) {
      throw new DlrError('hash-mismatch', `the body's SHA-256 is not the one its source published (${expected!.toLowerCase().slice(0, 12)}…)`);
    }
    return { bytes, verified: hash !== undefined };
  } catch (error) {
    throw request.signal.aborted ? new DlrError('interrupted', 'interrupted') : toDlrError(error);
  } finally {
    await client.close();
  }
}
