import { randomBytes } from 'node:crypto';
import type { Client } from 'pg';
import { FvError } from '../errors/index.ts';
import type { Policy } from '../policy/index.ts';
import { GATE_STATE_SQL, GUARD_SQLSTATE, peekFunctionSql, publicationSql } from './change-gate.ts';
import { formatLsn } from './pgoutput.ts';
import { quoteIdent } from './sql-text.ts';

/**
 * How this session reaches its replication slot: through the gate `policy grants --mode cdc`
 * installs (SECURITY DEFINER functions; the login role has no REPLICATION), or directly, as a
 * role with REPLICATION, which can decode every column of every table and so must be trusted
 * with all of the database's data.
 */
export type SlotAccess = 'gate' | 'replication';

/** Slot and publication names fleetvault makes: also a schema name in gate mode. */
export const PUBLICATION_NAME = /^[a-z_][a-z0-9_]{0,39}$/;

/**
 * fleetvault's replication slot, read only through the guard of `peekFunctionSql` (server side:
 * nothing the policy does not read ever reaches this process).
 */
export class ChangeSlot {
  private constructor(
    private readonly client: Client,
    readonly access: SlotAccess,
    readonly name: string,
    readonly publication: string,
  ) {}

  /**
   * Finds the way to the slot. `follows` is the slot the store already follows (or began to),
   * if any. In gate mode the slot is the publication's name; directly, each store has its own.
   */
  static async open(
    client: Client,
    policy: Policy,
    opts: { publication: string; follows?: string | undefined },
  ): Promise<ChangeSlot> {
    const { publication } = opts;
    if (!PUBLICATION_NAME.test(publication)) {
      throw new FvError('FV_USAGE', '--publication takes lower-case letters, digits and _ (at most 40)');
    }
    const gate = (await client.query<{ exists: boolean; mine: boolean }>(GATE_STATE_SQL, [publication]))
      .rows[0];
    if (gate?.exists) {
      if (!gate.mine) {
        throw new FvError(
          'FV_CDC_UNAVAILABLE',
          `the connected role may not use the change-capture gate ${publication}; run the SQL from \`fleetvault policy grants --mode cdc --role <this role>\` as a superuser`,
        );
      }
      if (opts.follows && opts.follows !== publication) {
        throw new FvError(
          'FV_CDC_SETUP',
          `this store follows replication slot ${opts.follows}, but the gate ${publication} reads slot ${publication}; run \`fleetvault sync --mode cdc --full\` to start over from the gate's slot, and have a superuser drop slot ${opts.follows} (it holds WAL back)`,
        );
      }
      return new ChangeSlot(client, 'gate', publication, publication);
    }
    const role = (
      await client.query<{ replication: boolean }>(
        'SELECT rolsuper OR rolreplication AS replication FROM pg_roles WHERE rolname = current_user',
      )
    ).rows[0];
    if (!role?.replication) {
      throw new FvError(
        'FV_CDC_UNAVAILABLE',
        `no change-capture gate ${publication} in this database and the role has no REPLICATION; as a superuser, run the SQL from \`fleetvault policy grants --mode cdc\` (the role then needs no REPLICATION)`,
      );
    }
    const name = opts.follows ?? `fleetvault_${randomBytes(6).toString('hex')}`;
    // The same guard as the gate's, as this session's own temporary function.
    await client.query(
      peekFunctionSql(policy, { name: 'pg_temp.fv_peek', slot: name, publication, definer: false }),
    );
    return new ChangeSlot(client, 'replication', name, publication);
  }

  /** The slot's confirmed position, or undefined when it does not exist in this database. */
  async confirmed(): Promise<string | undefined> {
    const r = await this.client.query<{ lsn: string | null }>(
      'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()',
      [this.name],
    );
    return r.rows.length ? (r.rows[0]?.lsn ?? '0/0') : undefined;
  }

  /** Creates the slot; returns the position from which it holds every change. */
  async create(): Promise<string> {
    try {
      const r =
        this.access === 'gate'
          ? await this.client.query<{ lsn: string }>(`SELECT ${quoteIdent(this.name)}.start()::text AS lsn`)
          : await this.client.query<{ lsn: string }>(
              "SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')",
              [this.name],
            );
      return r.rows[0]?.lsn as string;
    } catch (error) {
      if ((error as { code?: string }).code === '42710') {
        throw new FvError(
          'FV_CDC_SETUP',
          `replication slot ${this.name} already exists in another database of this PostgreSQL cluster (slot names are per cluster); make the gate under another --publication name`,
        );
      }
      throw error;
    }
  }

  async drop(): Promise<void> {
    if (this.access === 'gate') await this.client.query(`SELECT ${quoteIdent(this.name)}.stop()`);
    else
      await this.client.query(
        'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()',
        [this.name],
      );
  }

  /** Lets PostgreSQL forget changes up to `lsn` (the store holds them). */
  async advance(lsn: bigint): Promise<void> {
    if (this.access === 'gate')
      await this.client.query(`SELECT ${quoteIdent(this.name)}.advance($1::pg_lsn)`, [formatLsn(lsn)]);
    else
      await this.client.query('SELECT pg_replication_slot_advance($1, $2::pg_lsn)', [
        this.name,
        formatLsn(lsn),
      ]);
  }

  /** The query that reads the next changes (whole transactions, about `upto` messages) through the guard. */
  peekQuery(upto: number): string {
    const fn = this.access === 'gate' ? `${quoteIdent(this.name)}.peek` : 'pg_temp.fv_peek';
    return `SELECT d FROM ${fn}(${Math.trunc(upto)}) AS d`;
  }

  /** Creates the publication when it is missing and this role may; true when it did. */
  async createPublication(policy: Policy): Promise<boolean> {
    const exists = await this.client.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [
      this.publication,
    ]);
    if (exists.rowCount) return false;
    if (this.access === 'gate') return false; // the gate's SQL makes it; the check names what is missing
    const sql = publicationSql(policy, this.publication, 'CREATE');
    try {
      await this.client.query(sql);
    } catch (error) {
      if ((error as { code?: string }).code === '42501') {
        throw new FvError(
          'FV_SOURCE_PRIVILEGE',
          `the role may not create publication ${this.publication}, which change capture reads`,
          [
            `as the tables' owner, run once: ${sql};`,
            'or, for a role without REPLICATION, the SQL from `fleetvault policy grants --mode cdc`',
          ],
        );
      }
      throw error;
    }
    return true;
  }

  async dropPublication(): Promise<void> {
    await this.client.query(`DROP PUBLICATION IF EXISTS ${quoteIdent(this.publication)}`);
  }

  /** What the gate was made for: the columns it lets through, per table (gate mode only). */
  async gatePolicy(): Promise<Record<string, string[]> | undefined> {
    if (this.access !== 'gate') return undefined;
    const r = await this.client.query<{ p: Record<string, string[]> }>(
      `SELECT ${quoteIdent(this.name)}.policy() AS p`,
    );
    return r.rows[0]?.p;
  }
}

/** The guard's refusal (or a publication missing from the slot's history) as fleetvault's error. */
export function slotReadError(error: unknown, publication: string): unknown {
  const e = error as { code?: string; message?: string };
  if (e.code === GUARD_SQLSTATE) {
    return new FvError(
      'FV_CDC_PUBLICATION',
      `change capture stopped before reading: ${e.message}; nothing of these changes left PostgreSQL`,
      [
        `put publication ${publication} back to the policy's columns (the SQL of \`fleetvault policy grants --mode cdc\`), then run \`fleetvault sync --mode cdc --full\`: changes decoded with the wider columns can never be read safely`,
      ],
    );
  }
  if (e.code === '42704' && /publication/.test(e.message ?? '')) {
    return new FvError(
      'FV_CDC_PUBLICATION',
      `publication ${publication} did not exist when some changes in the slot were written (dropped and created again?); they cannot be decoded`,
      ['run `fleetvault sync --mode cdc --full` to start over from a new slot'],
    );
  }
  return error;
}
