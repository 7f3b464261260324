import { DlrError, toDlrError } from '../errors.js';
import { redactUrl } from './credentials.js';
import { readBodyText } from './read-body.js';
import { sendRequest, type RequestClient } from './request.js';
import { errorForStatus, header, messageFromErrorBody, type HeaderMap } from './status-error.js';
import { USER_AGENT } from '../version.js';

/** API answers are small; a body beyond this is not the API talking. */
const MAX_JSON_BYTES = 8 * 1024 * 1024;

export interface JsonAnswer {
  readonly status: number;
  readonly headers: HeaderMap;
  readonly url: URL;
  /** Parsed body, or undefined when it was not JSON. */
  readonly json: unknown;
  readonly text: string;
}

/**
 * GET a JSON API endpoint through the one request path (same dispatcher,
 * timeouts and credential rule as downloads). Any status is returned, so
 * the caller can read the API's own error message; the body is bounded.
 */
export async function fetchJson(
  client: RequestClient,
  url: URL,
  headers: Readonly<Record<string, string>>,
  signal?: AbortSignal,
): Promise<JsonAnswer> {
  // The same name as the downloads: API and file requests are one client to the site's limits and logs.
  const res = await sendRequest({ url, headers: { accept: 'application/json', 'user-agent': USER_AGENT, ...headers }, signal }, client);
  let text: string;
  try {
    const read = await readBodyText(res.body, MAX_JSON_BYTES);
    if (!read.complete) throw new DlrError('invalid-response', `${redactUrl(url)} answered with more than ${MAX_JSON_BYTES >> 20} MiB`);
    text = read.text;
  } catch (error) {
    throw toDlrError(error);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, url: res.url, json, text };
}

/** The generic typed error for a failed API answer, with the API's own message. */
export function apiError(answer: JsonAnswer): DlrError {
  return errorForStatus(answer.status, answer.headers, messageFromErrorBody(answer.text, header(answer.headers, 'content-type')));
}
