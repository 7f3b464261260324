import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readBodyText } from '../../src/http/read-body.js';

describe('readBodyText', () => {
  it('reads a short body whole', async () => {
    expect(await readBodyText(Readable.from([Buffer.from('{"error":'), Buffer.from('"x"}')]), 100)).toEqual({ text: '{"error":"x"}', complete: true });
  });

  it('cuts a long body at the limit and stops reading it', async () => {
    const body = Readable.from([Buffer.from('abcdef'), Buffer.from('ghij'), Buffer.from('never read')]);
    expect(await readBodyText(body, 8)).toEqual({ text: 'abcdefgh', complete: false });
    expect(body.destroyed).toBe(true);
  });
});
