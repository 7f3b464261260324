import type { Command } from 'commander';

/** Where the history and the config come from; shared by redownload, history and download. */
export function addHistoryOptions(cmd: Command): Command {
  return cmd
    .option('--history <file>', 'download-history CSV (default: history_file from the config, else ./download_history.csv)')
    .option('--config <file>', 'config JSON (default: $DLR_CONFIG, ./dlr.config.json, then $XDG_CONFIG_HOME/dlr/config.json)');
}
