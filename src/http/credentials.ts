/**
 * What counts as a credential, and how it is kept to its origin.
 */

/** Headers that carry credentials; stripped whenever a redirect changes origin (as undici and browsers do). */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

export function withoutCredentials(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!CREDENTIAL_HEADERS.includes(name.toLowerCase())) out[name] = value;
  }
  return out;
}

/**
 * `https://user:pass@host/` → the URL without userinfo plus a Basic
 * Authorization header, so userinfo is a credential like any other and is
 * never carried across origins inside a URL.
 */
export function splitUserinfo(url: URL): { url: URL; authorization?: string } {
  if (url.username === '' && url.password === '') return { url };
  const clean = new URL(url.href);
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  clean.username = '';
  clean.password = '';
  return { url: clean, authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` };
}

const SECRET_PARAMS = /([?&](?:token|api_key|apikey|access_token|key|X-Amz-Signature|X-Amz-Credential|Signature|Policy|Key-Pair-Id)=)[^&#]*/gi;

const PLAIN_URL = /^[\x21-\x3c\x3e\x3f\x41-\x7e]*$/;

/** A URL fit for logs: secrets in the query become `***`, userinfo is dropped. */
export function redactUrl(input: string | URL): string {
  // Printable ASCII with no userinfo and no query parameter: nothing to
  // redact, and no URL to parse (a 100k-row history printed or skipped
  // parsed 100k URLs for nothing). Anything else is parsed, so a unicode
  // host is shown in punycode, as the request will name it.
  if (typeof input === 'string' && PLAIN_URL.test(input)) return input;
  let text: string;
  try {
    const url = new URL(String(input));
    url.username = '';
    url.password = '';
    text = url.href;
  } catch {
    // Not a bare URL (a log label, a malformed row): drop userinfo wherever a URL appears in it.
    text = String(input).replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/\s@]*@/gi, '$1');
  }
  return text.replace(SECRET_PARAMS, '$1***');
}

/**
 * A URL fit to be written to a file dlr produces (the failures CSV): userinfo
 * and a `token` query parameter are removed, not masked, so the row still
 * works as a history row; the key then comes from the config or environment.
 */
export function stripUrlCredentials(text: string): string {
  try {
    const url = new URL(text);
    if (url.username === '' && url.password === '' && !url.searchParams.has('token')) return text;
    url.username = '';
    url.password = '';
    url.searchParams.delete('token');
    return url.href;
  } catch {
    return redactUrl(text);
  }
}
