import type { ExchangeEvent } from '../http/request.js';
import { redactUrl } from '../http/credentials.js';
import type { HeaderMap } from '../http/status-error.js';
import type { CliIo } from './io.js';

/** Request headers worth a look in a log; credentials among them are shown as `***`, never their value. */
const REQUEST_HEADERS = ['range', 'if-range', 'user-agent'];
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);
/** Answer headers that explain what dlr did next (sizes, resume, redirects, limits, the Hub's error codes). */
const RESPONSE_HEADERS = [
  'content-length',
  'content-range',
  'content-type',
  'content-encoding',
  'accept-ranges',
  'etag',
  'location',
  'retry-after',
  'ratelimit',
  'x-error-code',
  'x-linked-size',
];

/**
 * `-v`: one line per request as it is sent and one per answer — method, URL
 * (secrets in its query masked), status, the headers that matter — on
 * stderr, in the log's form (a timestamp when not on a terminal). The
 * request path only reports (src/http/request.ts); masking happens here,
 * from an allow-list, so a header not listed is never shown at all.
 */
export function verboseExchangeLog(io: CliIo): (event: ExchangeEvent) => void {
  const write = (text: string) => {
    const stamp = io.stderr.isTTY ? '' : `${new Date().toISOString()} `;
    io.stderr.write(`${stamp}${text}\n`);
  };
  return (event) => {
    const url = redactUrl(event.url);
    switch (event.phase) {
      case 'request': {
        const shown: string[] = [];
        for (const [name, value] of Object.entries(event.headers)) {
          const lower = name.toLowerCase();
          if (CREDENTIAL_HEADERS.has(lower)) shown.push(`${lower}: ***`);
          else if (REQUEST_HEADERS.includes(lower)) shown.push(`${lower}: ${oneLine(value)}`);
        }
        write(`> ${event.method} ${url}${shown.length > 0 ? ` (${shown.join('; ')})` : ''}`);
        break;
      }
      case 'response':
        write(`< ${event.status} ${event.method} ${url} ${Math.round(event.ms)} ms${answerHeaders(event.headers)}`);
        break;
      case 'error':
        write(`< error ${event.method} ${url} ${Math.round(event.ms)} ms: ${oneLine(event.message)}`);
        break;
    }
  };
}

function answerHeaders(headers: HeaderMap): string {
  const shown: string[] = [];
  for (const name of RESPONSE_HEADERS) {
    const raw = (headers as Record<string, string | string[] | undefined>)[name];
    if (raw === undefined) continue;
    const value = Array.isArray(raw) ? raw.join(', ') : raw;
    // A redirect's target may be a signed URL: its signature is a credential too.
    shown.push(`${name}: ${name === 'location' ? redactUrl(value) : oneLine(value)}`);
  }
  return shown.length > 0 ? ` (${shown.join('; ')})` : '';
}

/** Header text as one short line: no control characters can break the log's lines. */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}
