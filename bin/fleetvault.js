#!/bin/sh
//usr/bin/env true; exec env MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}" MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-262144}" MALLOC_TRIM_THRESHOLD_="${MALLOC_TRIM_THRESHOLD_:-262144}" node "$0" "$@"
// Run as a program (`npx fleetvault`: a link to this file), the line above is the shell's: it
// replaces itself (exec, the same process) with Node, glibc's allocator set for long copies. With
// its default thresholds, which grow after each large block freed, the memory Node's buffers free
// in the middle of a 100M-row copy stays with the process: resident memory crept from about 500 to
// 740 MB over the fleet's events, and stays near 500 MB with these (bench/RESULTS.md, "Memory of
// the fleet-size DuckDB sync"). A value already in the environment is kept. Node reads that line
// as a comment, so `node bin/fleetvault.js` runs the same CLI without them.
import { main } from '../dist/src/cli/main.js';

process.exitCode = await main(process.argv);
