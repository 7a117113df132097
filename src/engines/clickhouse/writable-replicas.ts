import { FvError, isFvError } from '../../errors/index.ts';
import type { ClickHouseNode } from './clickhouse-node.ts';

/** How long a write run waits for replicas to re-attach to a ZooKeeper that has come back. */
const REATTACH_MS = 60_000;
/**
 * How long a server that cannot reach ZooKeeper is asked again: right after ZooKeeper's return,
 * its first request can still meet the session ZooKeeper expired meanwhile (code 999), and the
 * next one opens a new session.
 */
const PROBE_MS = 10_000;

/**
 * Before a write run on a replicated store, every live server's replicated tables of the store's
 * database must take writes. A table is read-only while its server has no ZooKeeper session. If
 * the server cannot reach ZooKeeper either, the run stops here with `FV_STORE_REPLICATION`, before
 * it writes anything. If it can (ZooKeeper has just come back), ClickHouse re-attaches the tables
 * within seconds on its own schedule: the run waits for that, at most a minute, rather than
 * failing on a ZooKeeper that is already back.
 *
 * @example
 * await requireWritableReplicas(store.liveNodes);
 */
export async function requireWritableReplicas(
  nodes: readonly ClickHouseNode[],
  waitMs = REATTACH_MS,
): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (const node of nodes) {
    for (;;) {
      const r = await node.rows(
        'SELECT count() FROM system.replicas WHERE database = currentDatabase() AND is_readonly',
        'read the replicas',
      );
      const readOnly = Number(r[0]?.[0] ?? 0);
      if (readOnly === 0) break;
      await reachZooKeeper(node);
      if (Date.now() > deadline) {
        throw new FvError(
          'FV_STORE_REPLICATION',
          `ClickHouse at ${node.host}: ${readOnly} replicated tables are still read-only ${Math.round(waitMs / 1000)} s after ZooKeeper answered again; writes stop until they re-attach`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** Fails with ClickHouse's coordination codes, FV_STORE_REPLICATION, while ZooKeeper stays gone. */
async function reachZooKeeper(node: ClickHouseNode, probeMs = PROBE_MS): Promise<void> {
  const deadline = Date.now() + probeMs;
  for (;;) {
    try {
      await node.rows("SELECT count() FROM system.zookeeper WHERE path = '/'", 'reach ZooKeeper');
      return;
    } catch (error) {
      if (!isFvError(error) || error.code !== 'FV_STORE_REPLICATION' || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}
