import type { Dispatcher } from './undici.js';
import { ResponseBody } from './response-body.js';
import { currentSocketHold, type SocketHold } from './socket-hold.js';
import type { HeaderMap } from './status-error.js';

export interface ExchangeRequest {
  readonly url: URL;
  readonly method: 'GET' | 'HEAD';
  readonly headers: Readonly<Record<string, string>>;
  readonly signal: AbortSignal | undefined;
  readonly idleTimeoutMs: number;
  /** Unread body bytes past which the socket is held (see ResponseBody). */
  readonly bodyHighWaterMark: number;
  /** A byte budget: told each chunk's size, answers how long to hold the socket. */
  readonly pace?: (bytes: number) => number;
}

export interface ExchangeResponse {
  readonly status: number;
  readonly headers: HeaderMap;
  readonly body: ResponseBody;
}

/**
 * One HTTP request through the run's dispatcher, without following
 * redirects. Uses undici's handler interface rather than `request()` so the
 * body is a ResponseBody, which never pauses undici's parser. Resolves on the
 * final (non-1xx) response head; rejects with undici's error if there is none.
 */
export function exchange(dispatcher: Dispatcher, req: ExchangeRequest): Promise<ExchangeResponse> {
  return new Promise((resolve, reject) => {
    let controller: Dispatcher.DispatchController | undefined;
    // Set once the head arrived: from then on failures go to the body, not the promise.
    let body: ResponseBody | undefined;
    const onAbort = () => controller?.abort(req.signal?.reason);
    const stopListening = () => req.signal?.removeEventListener('abort', onAbort);
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(ctrl) {
        controller = ctrl;
        if (req.signal?.aborted) ctrl.abort(req.signal.reason);
      },
      onResponseStart(ctrl, statusCode, headers) {
        body = new ResponseBody((reason) => ctrl.abort(reason), currentSocketHold() ?? parserHold(ctrl), req.bodyHighWaterMark, req.pace);
        body.once('close', stopListening);
        resolve({ status: statusCode, headers: headers as HeaderMap, body });
      },
      onResponseData(_ctrl, chunk) {
        body?.deliver(chunk);
      },
      onResponseEnd() {
        body?.complete();
      },
      onResponseError(_ctrl, error) {
        if (body !== undefined) {
          // Our own abort (signal, dropped body) stops at once; a network failure keeps what arrived.
          if (controller?.aborted) body.destroy(error);
          else body.fail(error);
        } else {
          stopListening();
          reject(error);
        }
      },
    };
    req.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      dispatcher.dispatch(
        {
          origin: req.url.origin,
          path: `${req.url.pathname}${req.url.search}`,
          method: req.method,
          headers: req.headers,
          headersTimeout: req.idleTimeoutMs,
          bodyTimeout: req.idleTimeoutMs,
        },
        handler,
      );
    } catch (error) {
      stopListening();
      reject(error);
    }
  });
}

/**
 * A fallback for a socket dlr did not make holdable (none is expected: every
 * dispatcher dlr builds wraps its connector): undici's own pause, which is
 * bounded but carries the paused-parser risk socket-hold.ts explains.
 */
function parserHold(ctrl: Dispatcher.DispatchController): SocketHold {
  let held = false;
  return {
    hold() {
      held = true;
      ctrl.pause();
    },
    release() {
      if (!held) return;
      held = false;
      process.nextTick(() => ctrl.resume());
    },
    get held() {
      return held;
    },
  };
}
