import { describe, expect, it } from 'vitest';
import { redactUrl, splitUserinfo, withoutCredentials } from '../../src/http/credentials.js';

describe('credentials', () => {
  it('redacts token-like query parameters and userinfo in URLs meant for output', () => {
    expect(redactUrl('https://civitai.com/api/download/models/1?token=SECRET&type=Model')).toBe(
      'https://civitai.com/api/download/models/1?token=***&type=Model',
    );
    expect(redactUrl('https://u:p@h/x?X-Amz-Signature=abc')).toBe('https://h/x?X-Amz-Signature=***');
    expect(redactUrl('not a url ?token=abc')).toBe('not a url ?token=***');
  });

  it('turns URL userinfo into a Basic Authorization header', () => {
    const { url, authorization } = splitUserinfo(new URL('http://user:p%40ss@h/f'));
    expect(url.href).toBe('http://h/f');
    expect(authorization).toBe(`Basic ${Buffer.from('user:p@ss').toString('base64')}`);
  });

  it('drops Authorization, Cookie and Proxy-Authorization in any case', () => {
    expect(withoutCredentials({ Authorization: 'a', cookie: 'c', 'Proxy-Authorization': 'p', range: 'bytes=1-' })).toEqual({
      range: 'bytes=1-',
    });
  });
});
