import { readFile } from 'node:fs/promises';
import type { Dispatcher } from 'undici';
import { download } from '../../src/engine/download.js';
import type { DownloadEvent, DownloadRequest, DownloadResult } from '../../src/engine/types.js';
import { createDispatcher } from '../../src/http/dispatcher.js';
import type { DownloadPolicy } from '../../src/options.js';
import { sha256 } from '../../fixtures/server/fault-server.js';
import { fastPolicy } from './policy.js';

export interface RunOptions {
  readonly policy?: DownloadPolicy;
  readonly signal?: AbortSignal;
  readonly dispatcher?: Dispatcher;
  readonly onEvent?: (event: DownloadEvent) => void;
}

/** Runs the real engine with a fast policy, collecting its events. */
export async function runDownload(
  request: DownloadRequest,
  options: RunOptions = {},
): Promise<{ result: DownloadResult; events: DownloadEvent[] }> {
  const events: DownloadEvent[] = [];
  const dispatcher = options.dispatcher ?? createDispatcher(fastPolicy(options.policy));
  try {
    const result = await download(request, {
      policy: fastPolicy(options.policy),
      dispatcher,
      signal: options.signal,
      onEvent: (e) => {
        events.push(e);
        options.onEvent?.(e);
      },
    });
    return { result, events };
  } finally {
    if (!options.dispatcher) await dispatcher.close();
  }
}

export async function fileSha(path: string): Promise<string> {
  return sha256(await readFile(path));
}
