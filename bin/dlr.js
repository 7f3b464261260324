#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';

// undici parses HTTP with a WebAssembly build of llhttp, compiled on the first
// connection. V8's optimising compiler spends ~35 MB of memory on that module
// for no measurable speed-up on bodies (llhttp only hands body bytes through),
// so the baseline compiler is used: peak RSS of a download drops from ~100 to
// ~65 MB. Must be set before the first request. On the command line
// --liftoff-only implies the two --no-wasm-*tier* flags; set from here it
// does not on Node 24 (V8 13 applies implications only at start-up), and
// TurboFan tiered the module up anyway: peak RSS of a 256 MiB download on
// Node 24 was 106 MB with --liftoff-only alone, 89-92 MB with all three (Node
// 20: 74 MB either way).
setFlagsFromString('--liftoff-only');
setFlagsFromString('--no-wasm-tier-up');
setFlagsFromString('--no-wasm-dynamic-tiering');

const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv);
