/**
 * A block of live lines at the bottom of a terminal (one per file in flight,
 * plus an overall line), with ordinary lines printed above it.
 *
 * Why not cli-progress's MultiBar: its log lines wait in a buffer until the
 * next timed redraw, so a line printed just before it stops is lost, and its
 * cursor bookkeeping left pieces of a bar beside a line printed at a stop
 * (both seen on a real pseudo-terminal, test/e2e/terminal.test.ts). Here
 * every write is immediate and the block's height is always known: the
 * cursor rests on the block's last line, so clearing it is "go up height-1,
 * erase to the end of the screen".
 */
export class BarBlock {
  readonly #stream: NodeJS.WritableStream & { columns?: number };
  readonly #lines = new Map<number, string>();
  #drawn = 0;
  #dirty = false;
  #timer: NodeJS.Timeout | undefined;
  #cursorHidden = false;
  #closed = false;

  constructor(stream: NodeJS.WritableStream & { columns?: number }, readonly fps = 8) {
    this.#stream = stream;
  }

  /** Sets (or adds, at the bottom) the live line `key`; drawn on the next tick. */
  set(key: number, text: string): void {
    if (this.#closed) return;
    this.#lines.set(key, text);
    this.#schedule();
  }

  remove(key: number): void {
    if (this.#lines.delete(key)) this.#schedule();
  }

  /** Prints a line above the block at once. */
  print(text: string): void {
    let out = this.#clear();
    out += `${text}\n`;
    out += this.#draw();
    this.#stream.write(out);
  }

  /** Takes the block down for good (a stop, the end of the run); lines printed later go below. */
  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    let out = this.#clear();
    if (this.#cursorHidden) out += '\u001b[?25h';
    this.#cursorHidden = false;
    this.#closed = true;
    this.#lines.clear();
    if (out) this.#stream.write(out);
  }

  get closed(): boolean {
    return this.#closed;
  }

  #schedule(): void {
    this.#dirty = true;
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#dirty || this.#closed) return;
      this.#dirty = false;
      this.#stream.write(this.#clear() + this.#draw());
    }, 1000 / this.fps);
    this.#timer.unref();
  }

  #clear(): string {
    if (this.#drawn === 0) return '';
    const up = this.#drawn > 1 ? `\u001b[${this.#drawn - 1}A` : '';
    this.#drawn = 0;
    return `\r${up}\u001b[0J`;
  }

  #draw(): string {
    if (this.#closed || this.#lines.size === 0) return '';
    // One column short of the width: a line that fills it would wrap, and the block's height would be wrong.
    // A terminal that does not say its width (0, as under `script`) is taken as 80 columns.
    const columns = this.#stream.columns !== undefined && this.#stream.columns >= 20 ? this.#stream.columns : 80;
    const width = columns - 1;
    const lines = [...this.#lines.values()].map((l) => truncate(l, width));
    this.#drawn = lines.length;
    const hide = this.#cursorHidden ? '' : '\u001b[?25l';
    this.#cursorHidden = true;
    return hide + lines.join('\n');
  }
}

/** Cuts a line to `width` visible characters (ANSI colour codes do not count). */
function truncate(text: string, width: number): string {
  let visible = 0;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\u001b') {
      const end = text.indexOf('m', i);
      if (end > 0) {
        out += text.slice(i, end + 1);
        i = end;
        continue;
      }
    }
    if (visible >= width) break;
    out += text[i];
    visible++;
  }
  return out;
}

/** `████████░░░░░░░░`: the share done, in `size` cells. */
export function barCells(ratio: number, size = 24): string {
  const full = Math.max(0, Math.min(size, Math.round(ratio * size)));
  return '\u2588'.repeat(full) + '\u2591'.repeat(size - full);
}
