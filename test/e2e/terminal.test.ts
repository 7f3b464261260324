import { spawn, spawnSync } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeBytes } from '../../fixtures/server/fault-server.js';
import { makeBatchEnv, type BatchEnv } from '../helpers/batch-env.js';
import { BIN, cleanEnv } from '../helpers/cli.js';
import { formatBytes } from '../../src/util/units.js';

/**
 * dlr on a real pseudo-terminal (util-linux `script`), so the progress bar is
 * drawn as a person sees it, and what is left on the screen is checked by
 * replaying the output through a small terminal model.
 */
const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

let w: BatchEnv;
const ckpt = makeBytes(600_000, 11);

beforeEach(async () => {
  w = await makeBatchEnv();
  w.server.setFile('/ckpt', { body: ckpt });
  w.server.setFile('/lora', { body: makeBytes(20_000, 12) });
  await w.writeHistory([
    ['checkpoint', '/ckpt', 'model.safetensors'],
    ['lora', '/lora', 'small.safetensors'],
  ]);
});

afterEach(async () => {
  await w.cleanup();
});

interface TerminalRun {
  readonly code: number | null;
  /** Everything the terminal received. */
  readonly raw: string;
}

/**
 * Runs `dlr args` on a pseudo-terminal 120 columns wide. `act` is called with
 * the output so far whenever more arrives, and may type into the terminal.
 */
function onTerminal(args: readonly string[], act: (raw: string, type: (text: string) => void) => void = () => undefined): Promise<TerminalRun> {
  return new Promise((resolve, reject) => {
    const command = `stty cols 120 rows 40; exec '${process.execPath}' '${BIN}' ${args.map((a) => `'${a}'`).join(' ')}`;
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      cwd: w.root,
      env: cleanEnv({ ...w.env, TERM: 'xterm' }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let raw = '';
    const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new Error(`no exit:\n${raw}`))), 20_000);
    const onOutput = (d: Buffer) => {
      raw += d.toString();
      act(raw, (text) => child.stdin.write(text));
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, raw });
    });
  });
}

/**
 * The screen the output leaves behind: printable characters overwrite cells,
 * CR/LF move the cursor, and the few escape sequences dlr's live lines and Node's
 * readline use (column, erase line, cursor up/down, save/restore) are
 * honoured; colours and modes are ignored.
 */
function screen(raw: string): { lines: string[]; row: number; col: number; cursorVisible: boolean } {
  const lines: string[][] = [[]];
  let row = 0;
  let col = 0;
  let saved = { row: 0, col: 0 };
  let cursorVisible = true;
  const line = () => (lines[row] ??= []);
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '\u001b') {
      const csi = /^\u001b\[([?\d;]*)([A-Za-z])/.exec(raw.slice(i, i + 16));
      if (csi) {
        i += csi[0].length - 1;
        const [, params = '', op] = csi;
        const n = Number.parseInt(params.replace('?', ''), 10);
        if (op === 'G') col = (Number.isNaN(n) ? 1 : n) - 1;
        else if (op === 'K') {
          if (params === '2') lines[row] = [];
          else if (params === '1') line().fill(' ', 0, col + 1);
          else line().length = Math.min(line().length, col);
        } else if (op === 'A') row = Math.max(0, row - (Number.isNaN(n) ? 1 : n));
        else if (op === 'B') row += Number.isNaN(n) ? 1 : n;
        else if (op === 'C') col += Number.isNaN(n) ? 1 : n;
        else if (op === 'D') col = Math.max(0, col - (Number.isNaN(n) ? 1 : n));
        else if (op === 'J') {
          // Erase from the cursor to the end of the screen: the rest of this line, and every line below.
          line().length = Math.min(line().length, col);
          lines.length = row + 1;
        }
        else if (params === '?25' && (op === 'h' || op === 'l')) cursorVisible = op === 'h';
        continue;
      }
      if (raw[i + 1] === '7') saved = { row, col };
      if (raw[i + 1] === '8') ({ row, col } = saved);
      i++;
      continue;
    }
    if (c === '\r') col = 0;
    else if (c === '\n') row++;
    else if (c >= ' ') {
      const cells = line();
      while (cells.length < col) cells.push(' ');
      cells[col++] = c;
    }
  }
  line();
  return { lines: Array.from(lines, (cells) => (cells ?? []).join('').trimEnd()), row, col, cursorVisible };
}

const BAR_GLYPHS = /[\u2588\u2591]/;

describe.skipIf(!hasScript)('dlr on a terminal', () => {
  it('Ctrl-C mid-transfer takes the bar down before the stop line and the summary, and leaves a clean line for the prompt', async () => {
    w.server.script('/ckpt', { kind: 'trickle', bytesPerSec: 60_000, afterBytes: 70_000 });
    const part = join(w.dirOf('checkpoint'), 'model.safetensors.part');
    let typed = false;
    const run = await onTerminal(['redownload', 'all', '--yes', '--jobs', '1'], (raw, type) => {
      // Once the bar shows a rate: the middle of a transfer, the bar redrawing on its timer.
      if (typed || !/\d KiB\/s ETA \d/.test(raw)) return;
      typed = true;
      type('\u0003');
    });
    expect(typed, run.raw).toBe(true);
    expect((await stat(part)).size).toBeGreaterThan(0);
    expect(run.code, run.raw).toBe(130);
    const { lines, row, col, cursorVisible } = screen(run.raw);
    const text = lines.join('\n');
    expect(lines, text).toContain('SIGINT: stopping; parts are kept for resume (again to quit at once)');
    expect(lines, text).toContain('summary: interrupted');
    expect(lines.filter((l) => BAR_GLYPHS.test(l)), text).toEqual([]);
    // Every summary line starts its own line, whole (no piece of another line after it).
    expect(lines.find((l) => l.startsWith('  not started')), text).toMatch(/^ {2}not started 1 \(/);
    // The shell prompt comes back on an empty line, with the cursor shown.
    expect(lines[row], text).toBe('');
    expect(col).toBe(0);
    expect(cursorVisible).toBe(true);
    // Before a rate is known the bar says so instead of "ETA 0s".
    expect(run.raw).toMatch(/--\/s ETA --/);
    expect(run.raw).not.toMatch(/ETA 0s/);
  });

  it('says on the terminal that a file resumed, from where, and what this run fetched', async () => {
    w.server.script('/ckpt', { kind: 'reset-after', bytes: 250_000 });
    // The first run ends with the part kept (no retries), the second resumes it.
    const first = await onTerminal(['redownload', 'all', '--yes', '--retry-delays', '']);
    expect(first.code, first.raw).toBe(1);
    const kept = (await stat(join(w.dirOf('checkpoint'), 'model.safetensors.part'))).size;
    expect(kept).toBeGreaterThan(0);
    const second = await onTerminal(['redownload', 'all', '--yes']);
    expect(second.code, second.raw).toBe(0);
    const lines = screen(second.raw).lines;
    const text = lines.join('\n');
    expect(lines, text).toContain(`[1/2] resume model.safetensors from byte ${kept} (${formatBytes(kept)})`);
    const done = lines.find((l) => l.startsWith('[1/2] done '));
    expect(done, text).toContain(`${formatBytes(ckpt.length)}, resumed from ${formatBytes(kept)}: fetched ${formatBytes(ckpt.length - kept)} in `);
  });
});
