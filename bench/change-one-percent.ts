// The benchmarks' change set: what an incremental sync is measured against.
import pg from 'pg';

/** 1% of users and devices updated, 1% more events, 0.1% of events hard-deleted; resolves to rows touched. */
export async function changeOnePercent(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    let n = 0;
    n +=
      (await c.query("UPDATE users SET timezone = 'Europe/Oslo', updated_at = now() WHERE id % 100 = 7"))
        .rowCount ?? 0;
    n +=
      (await c.query("UPDATE devices SET firmware_version = '9.9.9', updated_at = now() WHERE id % 100 = 7"))
        .rowCount ?? 0;
    n += (await c.query('DELETE FROM connection_events WHERE id % 1000 = 3')).rowCount ?? 0;
    n +=
      (
        await c.query(
          "INSERT INTO connection_events (id, device_id, ts, outcome, error_code, rssi, duration_ms, client_ip, app_version) SELECT m.mx + g, d.ids[1 + (g % array_length(d.ids, 1))], now(), 'success', NULL, -55, 150, '10.0.0.1', '4.12.0' FROM (SELECT max(id) AS mx, (count(*) / 100)::int AS k FROM connection_events) m, (SELECT array_agg(id) AS ids FROM devices) d, generate_series(1, m.k) g",
        )
      ).rowCount ?? 0;
    return n;
  } finally {
    await c.end();
  }
}
