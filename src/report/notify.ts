import { hostname } from 'node:os';
import type { BatchSummary } from '../batch/summary.js';
import { redactUrl } from '../http/credentials.js';
import { createDispatcher, type NetworkOptions } from '../http/dispatcher.js';
import { formatBytes, formatDuration } from '../util/units.js';

/** When the end-of-run POST is sent: only when something went wrong (the default), or after every run. */
export type NotifyOn = 'failure' | 'always';
export const NOTIFY_ON_VALUES: readonly NotifyOn[] = ['failure', 'always'];

/** A webhook that does not answer within this is given up on: the run is over, and cron waits for it. */
export const NOTIFY_TIMEOUT_MS = 10_000;

/** What a run ended with, as the notification tells it. */
export interface RunReport {
  readonly command: string;
  /** `ok`: nothing failed; `failed`: some files failed; `interrupted`: a signal; `error`: the run stopped with an error of its own. */
  readonly outcome: 'ok' | 'failed' | 'interrupted' | 'error';
  readonly exitCode: number;
  readonly summary: BatchSummary | undefined;
  /** The run's own error (lock held, history unreadable), already one line. */
  readonly error?: string;
  readonly failuresCsv?: string | null;
  /** The failed files, in plan order; only the first few go into the text. */
  readonly failedFiles?: ReadonlyArray<{ readonly name: string; readonly code: string; readonly message: string }>;
}

/** Discord drops a message over 2000 characters; Slack folds long ones. */
const MAX_TEXT_CHARS = 1800;
const MAX_LISTED_FILES = 10;

export function shouldNotify(on: NotifyOn, report: RunReport): boolean {
  return on === 'always' || report.outcome !== 'ok';
}

/**
 * The JSON body: `text` (Slack's incoming webhooks; Discord's `/slack`
 * endpoint) and `content` (Discord's own) carry a short human message; the
 * summary and the run's outcome ride along for a receiver that reads them.
 * Every URL and message goes through redactUrl: nothing in it may carry a
 * credential.
 */
export function notifyPayload(report: RunReport, host = hostname()): Record<string, unknown> {
  const text = notifyText(report, host);
  return {
    text,
    content: text,
    dlr: {
      command: report.command,
      host,
      outcome: report.outcome,
      exitCode: report.exitCode,
      ...(report.error !== undefined ? { error: redactUrl(report.error) } : {}),
      ...(report.failuresCsv ? { failuresCsv: report.failuresCsv } : {}),
    },
    summary: report.summary ?? null,
  };
}

export function notifyText(report: RunReport, host: string): string {
  const s = report.summary;
  const head = `dlr ${report.command} on ${host}: `;
  let first: string;
  if (report.outcome === 'error') first = `${head}stopped with an error: ${report.error ?? 'unknown'}`;
  else if (s === undefined) first = `${head}${report.outcome}`;
  else {
    const codes = Object.entries(s.failuresByCode).map(([code, n]) => `${code} ${n}`).join(', ');
    const state =
      report.outcome === 'interrupted'
        ? `interrupted, ${s.failed} failed, ${s.notStarted} not started`
        : s.failed > 0
          ? `${s.failed} of ${s.total} failed${codes ? ` (${codes})` : ''}`
          : `all ${s.total} ok`;
    first = `${head}${state}; ${s.success} done, ${s.skipped} skipped; fetched ${formatBytes(s.bytes)} in ${formatDuration(s.elapsedMs)}`;
  }
  const lines = [first];
  const failed = report.failedFiles ?? [];
  for (const f of failed.slice(0, MAX_LISTED_FILES)) lines.push(`- ${f.name} [${f.code}] ${f.message.slice(0, 200)}`);
  if (failed.length > MAX_LISTED_FILES) lines.push(`- and ${failed.length - MAX_LISTED_FILES} more`);
  if (report.failuresCsv) lines.push(`failures: ${report.failuresCsv}`);
  let text = lines.map((line) => redactUrl(line)).join('\n');
  if (text.length > MAX_TEXT_CHARS) text = `${text.slice(0, MAX_TEXT_CHARS - 1)}…`;
  return text;
}

/**
 * One POST of `payload` as JSON to `url`. Never throws: the answer is a
 * warning for the log (undefined when the hook took it), because a chat
 * service being down must not turn a good night into a failed one.
 *
 * Why not the run's HttpClient: it is GET/HEAD only, and everything in it
 * (the origin limiter, retries, resume) is for fetching files; a webhook
 * wants one try with a hard deadline. Why not a bare undici request: the
 * dispatcher of src/http/dispatcher.ts honours the same proxy environment
 * and extra CA (`ca_file`, `--cacert`) as the downloads, which a host that
 * reaches the internet only through a proxy needs for its webhook too.
 * Redirects are not followed (a webhook that redirects is misconfigured).
 * The warning names the origin only: a webhook's path is its secret.
 */
export async function sendNotify(
  url: string,
  payload: unknown,
  options: { readonly network?: NetworkOptions; readonly timeoutMs?: number } = {},
): Promise<string | undefined> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return 'notify: the URL is not valid; nothing was sent';
  }
  const where = `${target.protocol}//${target.host}`;
  const timeoutMs = options.timeoutMs ?? NOTIFY_TIMEOUT_MS;
  const dispatcher = createDispatcher({ connectTimeoutMs: timeoutMs, idleTimeoutMs: timeoutMs }, options.network ?? {});
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'dlr' };
    if (target.username !== '' || target.password !== '') {
      headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`).toString('base64')}`;
    }
    const response = await dispatcher.request({
      origin: target.origin,
      path: `${target.pathname}${target.search}`,
      method: 'POST',
      headers,
      body: JSON.stringify(payload),
      signal,
    });
    await response.body.dump({ limit: 64 * 1024, signal }).catch(() => undefined);
    if (response.statusCode < 200 || response.statusCode > 299) return `notify to ${where} failed: HTTP ${response.statusCode}; the run's outcome is unchanged`;
    return undefined;
  } catch (error) {
    const why = signal.aborted ? `no answer in ${formatDuration(timeoutMs)}` : errorText(error);
    return `notify to ${where} failed: ${why}; the run's outcome is unchanged`;
  } finally {
    await dispatcher.destroy().catch(() => undefined);
  }
}

function errorText(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (typeof code === 'string' && code !== '') return code;
  return redactUrl(error instanceof Error ? error.message : String(error));
}
