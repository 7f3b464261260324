import { EXIT_OK, UsageError } from '../../errors.js';
import { openCoordinator } from '../../fleet/coordinator.js';
import { fleetStatus, type FleetStatus } from '../../fleet/status.js';
import type { CliIo } from '../io.js';
import { loadRunContext } from '../run-context.js';
import type { FleetFlags } from './fleet.js';

/** `dlr fleet status`: Redis unreachable is exit 75 with one line, as for a run. */
export async function runFleetStatus(flags: FleetFlags, io: CliIo): Promise<number> {
  const ctx = await loadRunContext(flags, io);
  if (ctx.fleet === undefined) throw new UsageError('no coordinator: give --coordinator redis://host:port, DLR_COORDINATOR, or coordinator.url in the config');
  const coordinator = await openCoordinator(ctx.fleet.address);
  let status: FleetStatus;
  try {
    status = await fleetStatus(coordinator);
  } finally {
    await coordinator.close();
  }
  if (flags.json) {
    io.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    return EXIT_OK;
  }
  for (const line of statusLines(status)) io.stdout.write(`${line}\n`);
  return EXIT_OK;
}

export function statusLines(status: FleetStatus): string[] {
  const lines = [`coordinator ${status.coordinator}, redis time ${new Date(status.now).toISOString()}, last fencing token ${status.fence}`];
  lines.push(`leases: ${status.leases.length}${status.leasesCut ? ' (more not listed)' : ''}`);
  for (const l of status.leases) {
    lines.push(`  ${l.file}  held by ${l.member}  fence ${l.fence}  since ${l.since}  expires in ${seconds(l.expiresInMs)}`);
  }
  lines.push(`origins: ${status.origins.length}`);
  for (const o of status.origins) {
    const budget = o.requestsPerMinute > 0 ? `${o.requestsPerMinute}/min burst ${o.burst}` : 'no request budget';
    const learned = o.learnedRequestsPerMinute !== undefined ? `, learned ${Math.round(o.learnedRequestsPerMinute * 100) / 100}/min` : '';
    const pause = o.pausedForMs > 0 ? `, paused for ${seconds(o.pausedForMs)}` : ', not paused';
    const booked = o.bookedAheadMs > 0 ? `, next request waits ${seconds(o.bookedAheadMs)}` : '';
    lines.push(`  ${o.origin}  ${budget}${learned}${pause}${booked}`);
  }
  return lines;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
