import type { Command } from 'commander';

/** The transfer-policy flags every fetching command shares (download now, redownload later). */
export function addPolicyOptions(cmd: Command): Command {
  return cmd
    .option('--retry-delays <seconds>', 'waits before each retry, comma-separated seconds (default 60,180,300)')
    .option('--max-retry-after <seconds>', "longest server Retry-After to honour before failing the file (default 900)")
    .option('--speed-floor <rate>', 'below this speed for --speed-window the transfer counts as throttled (default 10KiB; 0 = off)')
    .option('--speed-window <seconds>', 'sliding window for the speed floor (default 30)')
    .option('--timeout <seconds>', 'longest wait for headers or for the next body bytes (default 60)')
    .option('--connect-timeout <seconds>', 'TCP/TLS connect timeout (default 30)')
    .option('--max-redirects <n>', 'redirects to follow (default 10)')
    .option('--limit-rate <rate>', 'cap the whole run\'s download rate, e.g. 500K or 20MiB, as curl\'s --limit-rate (config limit_rate)')
    .option('--cacert <file>', 'also trust the CA certificates in this PEM file (a private CA; NODE_EXTRA_CA_CERTS works too)')
    .option('-x, --connections <n>', 'fetch one large file over up to N connections at once, 1 to 16, when the server serves ranges (config connections; default 1)')
    .option('--min-split-size <size>', 'never split a range below this size, e.g. 20MiB (config min_split_size; default 20MiB)')
    .option('--max-size <size>', 'refuse a body that grows past this size, e.g. 20GiB (default: no limit; a size the site publishes always caps it)');
}
