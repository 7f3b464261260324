/** What the CLI touches of the process, passed in so tests and the binary share one path. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
  readonly signal: AbortSignal;
  /** Lines that arrive from outside the command's flow (the signal notice); see {@link NoticeRoute}. */
  readonly notices: NoticeRoute;
}

/**
 * The signal handler's line must not be written under a live progress bar:
 * the live progress lines are redrawn on a timer and would overwrite it (or
 * the summary after it) with pieces of a bar. So the line goes to the reporter
 * that owns the terminal while there is one, which stops its bar first, and
 * straight to stderr otherwise.
 */
export class NoticeRoute {
  readonly #fallback: (text: string) => void;
  #target: ((text: string) => void) | undefined;

  constructor(fallback: (text: string) => void) {
    this.#fallback = fallback;
  }

  say(text: string): void {
    (this.#target ?? this.#fallback)(text);
  }

  /** Sends notices to `target` until the returned function is called. */
  route(target: (text: string) => void): () => void {
    this.#target = target;
    return () => {
      if (this.#target === target) this.#target = undefined;
    };
  }
}
