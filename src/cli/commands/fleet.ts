// The `fleet` command's flags and help. What it does lives in fleet-run.ts,
// loaded only when the command runs (it loads the Redis client).

import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import type { ContextFlags } from '../run-context.js';

export interface FleetFlags extends ContextFlags {
  readonly json?: boolean;
}

export function registerFleet(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const fleet = program.command('fleet').description('look at a fleet of dlr runs coordinated by Redis (see redownload --coordinator)');
  const status = fleet
    .command('status')
    .description("who holds which file's lease, and each origin's shared budget, learned rate and pause, as Redis sees them now")
    .option('--coordinator <url>', 'the fleet\'s Redis, redis://[user:pass@]host:port[/db] (default $DLR_COORDINATOR, then coordinator.url)')
    .option('--config <file>', 'config JSON (default: $DLR_CONFIG, ./dlr.config.json, then $XDG_CONFIG_HOME/dlr/config.json)')
    .option('--json', 'print JSON on stdout', false);
  status.action(async (flags: FleetFlags) => {
    const { runFleetStatus } = await import('./fleet-run.js');
    setExit(await runFleetStatus(flags, io));
  });
}
