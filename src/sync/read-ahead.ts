/**
 * Iterates `source` one item ahead: while the caller works on item N (transforms it, waits for the
 * store to write it), item N+1 is already being read and parsed. Holds at most one extra item.
 *
 * @example
 * for await (const batch of readAhead(readTable(client, req))) await write(batch);
 */
export async function* readAhead<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let next = it.next();
  // Awaited below; this only keeps a failure of the read-ahead from counting as unhandled while
  // the caller is still busy with the previous item.
  next.catch(() => {});
  let done = false;
  try {
    for (;;) {
      const r = await next;
      if (r.done) {
        done = true;
        return;
      }
      next = it.next();
      next.catch(() => {});
      yield r.value;
    }
  } finally {
    // Stopped early (a refusal, an abort, an error): the source closes (its cursor, its COPY).
    if (!done) await it.return?.(undefined);
  }
}
