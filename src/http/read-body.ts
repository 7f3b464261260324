import type { Readable } from 'node:stream';

/**
 * Reads a small body (an API answer, an error page) as text, at most `limit`
 * bytes. `complete` is false when the body was longer and has been cut off;
 * leaving the loop early destroys the rest, so a huge body costs nothing.
 */
export async function readBodyText(body: Readable, limit: number): Promise<{ text: string; complete: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (size + chunk.length > limit) {
      chunks.push(chunk.subarray(0, limit - size));
      return { text: Buffer.concat(chunks).toString('utf8'), complete: false };
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  return { text: Buffer.concat(chunks).toString('utf8'), complete: true };
}
