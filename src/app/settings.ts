import type { Fleet, FleetSettings } from '../fleet/fleet.js';
import type { HttpClient } from '../http/client.js';
import type { OriginEvent } from '../limiter/memory-limiter.js';
import type { ResolvedPolicy } from '../options.js';
import type { SourceSettings } from '../sources/types.js';

/**
 * What the application layer needs to run a command: config and flags
 * already merged (the CLI builds it, src/cli/run-context.ts), as a plain
 * typed object with defaults applied.
 */
export interface RunSettings {
  readonly historyPath: string;
  readonly policy: ResolvedPolicy;
  /** The seed's sleep_between_downloads, per origin. */
  readonly pauseBetweenMs: number;
  readonly sources: SourceSettings;
  /** Every configured download folder (a row with no type may land in any). */
  readonly downloadDirs: readonly string[];
  /** Files in flight at once. */
  readonly jobs: number;
  /** Checkpoints transferring at once. */
  readonly checkpointJobs: number;
  dirFor(type: string): string;
  /** Fleet mode (`--coordinator`): undefined runs alone, as always. */
  readonly fleet?: FleetSettings | undefined;
  /** The run's one network client; the caller closes it. With a fleet, its limiter is the fleet's. */
  openClient(options?: {
    readonly learned?: Readonly<Record<string, number>>;
    readonly onOriginEvent?: (event: OriginEvent) => void;
    readonly fleet?: Fleet;
  }): HttpClient;
}
