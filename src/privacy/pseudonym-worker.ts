// The thread behind `PseudonymHasher` (pseudonym-hasher.ts): each message is one column of one
// batch, answered with its pseudonyms (pseudonym-hash.ts).
import { parentPort } from 'node:worker_threads';
import { columnHasher, type HashRequest } from './pseudonym-hash.ts';
import type { HashResponse } from './pseudonym-hasher.ts';

const port = parentPort;
if (!port) throw new Error('pseudonym-worker.ts runs as a worker thread');
const hash = columnHasher();

port.on('message', (m: HashRequest) => {
  try {
    const out = hash(m);
    port.postMessage({ id: m.id, out } satisfies HashResponse, [out]);
  } catch (error) {
    // The kind of failure only: a message could quote a value.
    port.postMessage({
      id: m.id,
      error: error instanceof Error ? error.name : 'error',
    } satisfies HashResponse);
  }
});
