// DuckDB's Node API frees the native memory of a result or a data chunk only when V8 collects its
// JavaScript wrapper, and does not tell V8 how much memory that is: to the collector a batch's
// materialized result of 16 MB weighs a few bytes, so it runs rarely and the unreachable results
// pile up. A staged sync of 103M events grew to 785 MB resident that way while its DuckDB pools
// stayed within their limits; a loop of staging batches alone reached 673 MB, and 134 MB with a
// collection after each batch (bench/RESULTS.md, copy-memory).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
/** A full garbage collection now: the DuckDB results nothing reaches any more free their memory. */
export const collectGarbage = runInNewContext('gc') as () => void;

/**
 * Counts the bytes of DuckDB results a loop has finished with and collects garbage once they reach
 * `every`, so their native memory returns while the loop runs. A full collection of a sync's small
 * heap takes a few milliseconds.
 */
export class NativeMemory {
  private since = 0;

  constructor(private readonly every: number) {}

  released(bytes: number): void {
    this.since += bytes;
    if (this.since < this.every) return;
    this.since = 0;
    collectGarbage();
  }
}
