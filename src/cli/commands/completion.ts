// `dlr completion bash|zsh|fish` and `dlr man`: generated, when asked, from
// the very commander definitions `--help` prints (src/cli/help-docs.ts).

import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { CliIo } from '../io.js';

const SHELLS = ['bash', 'zsh', 'fish'] as const;

export function registerCompletion(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('completion')
    .description('print a shell completion script: bash (source it), zsh (put it in $fpath as _dlr) or fish (~/.config/fish/completions/dlr.fish)')
    .argument('<shell>', SHELLS.join(', '))
    .action(async (shell: string) => {
      const { bashCompletion, fishCompletion, zshCompletion } = await import('../help-docs.js');
      const make = { bash: bashCompletion, zsh: zshCompletion, fish: fishCompletion }[shell as (typeof SHELLS)[number]];
      if (make === undefined) throw new UsageError(`completion is made for ${SHELLS.join(', ')}, not '${shell}'`);
      io.stdout.write(make(program));
      setExit(0);
    });
}

export function registerMan(program: Command, io: CliIo, setExit: (code: number) => void, exitCodes: string): void {
  program
    .command('man')
    .description("print dlr's man page (roff): dlr man | man -l -, or save it as dlr.1 in a man directory")
    .action(async () => {
      const { manPage } = await import('../help-docs.js');
      const { VERSION } = await import('../../version.js');
      io.stdout.write(manPage(program, { version: VERSION, exitCodes }));
      setExit(0);
    });
}
