import { DlrError } from '../errors.js';
import { redactUrl } from './credentials.js';

/** Parses a user-supplied download URL: only http and https can be fetched. */
export function parseHttpUrl(text: string | URL): URL {
  let url: URL;
  try {
    url = new URL(String(text));
  } catch {
    throw new DlrError('usage', `not a valid URL: ${redactUrl(String(text)).slice(0, 200)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new DlrError('usage', `unsupported URL scheme ${url.protocol} (only http and https)`);
  }
  return url;
}
