#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';

// undici parses HTTP with a WebAssembly build of llhttp, compiled on the first
// connection. V8's optimising compiler spends ~35 MB of memory on that module
// for no measurable speed-up on bodies (llhttp only hands body bytes through),
// so the baseline compiler is used: peak RSS of a download drops from ~100 to
// ~65 MB. Must be set before the first request.
setFlagsFromString('--liftoff-only');

const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv);
