import type { DlrError } from '../errors.js';

/** Errnos that mean nothing answered at that address: the origin's state, not one file's. */
const UNREACHABLE_ERRNOS = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * Whether a failure says the origin cannot be reached at all (DNS, refused,
 * unroutable, connect timeout, TLS, or the proxy refusing the way there), as
 * opposed to one transfer going wrong (a reset mid-body, a 5xx).
 */
export function isUnreachable(error: DlrError): boolean {
  if (error.code === 'tls') return true;
  if (error.code === 'proxy') return true;
  return (error.code === 'network' || error.code === 'timeout') && error.detail !== undefined && UNREACHABLE_ERRNOS.has(error.detail);
}
