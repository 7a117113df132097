import { FvError } from '../errors/index.ts';
import type { BulkLoader } from './bulk-loader.ts';
import { DEMO_CONSTRAINTS, DEMO_DDL, DEMO_TABLES } from './demo-schema.ts';
import {
  APP_VERSIONS,
  BAD_FIRMWARE,
  ERROR_CODES,
  FIRST_NAMES,
  LAST_NAMES,
  MAIL_DOMAINS,
  NICKNAMES,
  PRODUCTS,
  PROVIDERS,
  type Product,
  REGIONS,
  type Region,
  SSID_STYLES,
} from './fleet-model.ts';
import { Random } from './random.ts';

export interface SimulateOptions {
  readonly users: number;
  readonly days: number;
  readonly seed: number;
  /** The last simulated day ends here (UTC midnight). Fixed by default so runs are reproducible. */
  readonly endDate?: Date;
  readonly replace?: boolean;
  /** Called when a table is done. */
  readonly onProgress?: (table: string, rows: number) => void;
  /** Called while a table fills, every few thousand rows (for a progress bar). */
  readonly onRows?: (table: string, rows: number) => void;
}

/** Values planted in the production data that must never appear in anything fleetvault writes. */
export interface Canaries {
  readonly emails: string[];
  readonly names: string[];
  readonly phones: string[];
  readonly nicknames: string[];
  readonly ssids: string[];
  readonly macs: string[];
  readonly serials: string[];
  readonly tokens: string[];
  readonly ips: string[];
  readonly passwordHashes: string[];
}

export interface SimulateResult {
  readonly rows: Readonly<Record<string, number>>;
  readonly canaries: Canaries;
  readonly durationMs: number;
}

export const DEFAULT_END_DATE = new Date('2026-11-01T00:00:00Z');
const DAY = 86_400_000;
const CHUNK_ROWS = 5_000;
const CANARY_USERS = 3;

interface SimUser {
  readonly id: number;
  readonly region: Region;
  readonly created: number;
  readonly ip: string;
  readonly canary: number;
}

interface SimDevice {
  readonly id: number;
  readonly user: SimUser;
  readonly product: Product;
  readonly firmware: string;
  readonly activated: number | null;
}

function esc(v: string | number | null): string {
  if (v === null) return '\\N';
  return typeof v === 'number'
    ? String(v)
    : v.replace(/[\\\t\n\r]/g, (c) =>
        c === '\t' ? '\\t' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\\\',
      );
}

function ts(ms: number): string {
  return new Date(ms).toISOString();
}

function* chunked(
  rows: Iterable<ReadonlyArray<string | number | null>>,
  counter: { n: number },
  onChunk?: (rows: number) => void,
): Generator<string> {
  let buf: string[] = [];
  for (const row of rows) {
    buf.push(row.map(esc).join('\t'));
    counter.n++;
    if (buf.length >= CHUNK_ROWS) {
      onChunk?.(counter.n);
      yield `${buf.join('\n')}\n`;
      buf = [];
    }
  }
  if (buf.length) yield `${buf.join('\n')}\n`;
}

function emptyCanaries(): Canaries {
  return {
    emails: [],
    names: [],
    phones: [],
    nicknames: [],
    ssids: [],
    macs: [],
    serials: [],
    tokens: [],
    ips: [],
    passwordHashes: [],
  };
}

function mac(r: Random): string {
  return ['a4', 'cf', '12', r.hex(1), r.hex(1), r.hex(1)].join(':');
}

function publicIp(r: Random): string {
  return `${r.pick([81, 92, 73, 98, 126, 203, 151, 5])}.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}`;
}

function phone(r: Random, country: string): string {
  if (country === 'US')
    return `+1 ${r.int(201, 989)} ${r.int(200, 999)} ${String(r.int(0, 9999)).padStart(4, '0')}`;
  if (country === 'GB') return `+44 7700 ${r.int(900000, 900999)}`;
  if (country === 'DE') return `+49 151 ${r.int(1000000, 9999999)}`;
  if (country === 'JP') return `+81 90-${r.int(1000, 9999)}-${r.int(1000, 9999)}`;
  return `+${r.int(30, 65)} ${r.int(600, 799)} ${r.int(100, 999)} ${r.int(100, 999)}`;
}

/**
 * Creates the demo production schema and fills it deterministically from a seed: activation
 * waves, a bad firmware release, regional differences, multi-device users, linked assistants,
 * soft- and hard-deleted users, and planted canary values.
 *
 * @example
 * await simulate(pgLoader(client), { users: 20_000, days: 30, seed: 42 });
 */
export async function simulate(db: BulkLoader, opts: SimulateOptions): Promise<SimulateResult> {
  const started = Date.now();
  const existing = await db.query<{ relname: string }>(
    `SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND relkind = 'r' AND relname IN (${DEMO_TABLES.map((t) => `'${t}'`).join(', ')})`,
  );
  if (existing.length > 0) {
    if (!opts.replace) {
      throw new FvError(
        'FV_SIM_TABLES_EXIST',
        `the target database already has ${existing.map((e) => e.relname).join(', ')}; simulate refuses to touch it without --replace`,
      );
    }
    await db.exec(`DROP TABLE IF EXISTS ${DEMO_TABLES.join(', ')} CASCADE`);
  }
  await db.exec(DEMO_DDL);
  const end = (opts.endDate ?? DEFAULT_END_DATE).getTime();
  const windowStart = end - opts.days * DAY;
  const historyStart = end - Math.max(540, opts.days * 2) * DAY;
  const canaries = emptyCanaries();
  const rows: Record<string, number> = {};
  const count = async (
    table: string,
    columns: string[],
    gen: Iterable<ReadonlyArray<string | number | null>>,
  ) => {
    const counter = { n: 0 };
    const onRows = opts.onRows;
    await db.copyIn(table, columns, chunked(gen, counter, onRows && ((n) => onRows(table, n))));
    rows[table] = counter.n;
    opts.onProgress?.(table, counter.n);
  };

  // Users.
  const ur = new Random(opts.seed, 1);
  const users: SimUser[] = [];
  const hardDeleted: number[] = [];
  function* userRows() {
    for (let id = 1; id <= opts.users; id++) {
      const region = ur.weighted(REGIONS.map((g) => [g, g.weight] as const));
      const [country, tz] = ur.pick(region.countries);
      const age = ur.next() ** 0.6;
      const created = Math.floor(end - age * (end - historyStart));
      const canary = id <= CANARY_USERS ? id : 0;
      const first = ur.pick(FIRST_NAMES);
      const last = ur.pick(LAST_NAMES);
      const user: SimUser = { id, region, created, ip: publicIp(ur), canary };
      users.push(user);
      let email = `${first}.${last}${ur.int(1, 999)}@${ur.pick(MAIL_DOMAINS)}`;
      let name = `${first[0]?.toUpperCase()}${first.slice(1)} ${last[0]?.toUpperCase()}.`;
      let tel: string | null = ur.chance(0.6) ? phone(ur, country) : null;
      let hash = `$argon2id$v=19$m=65536,t=3,p=4$${ur.token(22)}$${ur.token(43)}`;
      if (canary) {
        email = `canary-${opts.seed}-${canary}@fleetvault-canary.test`;
        name = `Canaryname${opts.seed}x${canary}`;
        tel = `+1 555 01${String(canary).padStart(2, '0')} ${String(opts.seed % 10000).padStart(4, '0')}`;
        hash = `$argon2id$v=19$m=65536,t=3,p=4$canaryhash${opts.seed}x${canary}`;
        canaries.emails.push(email);
        canaries.names.push(name);
        canaries.phones.push(tel);
        canaries.passwordHashes.push(hash);
        canaries.ips.push(user.ip);
      }
      const birth = ur.chance(0.7)
        ? ts(Date.UTC(ur.int(1950, 2006), ur.int(0, 11), ur.int(1, 28))).slice(0, 10)
        : null;
      const roll = canary ? 1 : ur.next();
      let updated = created + Math.floor(ur.next() * (end - created));
      let deleted: string | null = null;
      if (roll < 0.02) {
        updated = windowStart + Math.floor(ur.next() * (end - windowStart));
        deleted = ts(updated);
      } else if (roll < 0.03) hardDeleted.push(id);
      yield [
        id,
        email,
        name,
        hash,
        tel,
        birth,
        country,
        tz,
        ts(created),
        ts(Math.max(updated, created)),
        deleted,
      ] as const;
    }
  }
  await count(
    'users',
    [
      'id',
      'email',
      'display_name',
      'password_hash',
      'phone',
      'birth_date',
      'country',
      'timezone',
      'created_at',
      'updated_at',
      'deleted_at',
    ],
    userRows(),
  );

  // Devices.
  const dr = new Random(opts.seed, 2);
  const devices: SimDevice[] = [];
  function* deviceRows() {
    let id = 0;
    for (const user of users) {
      let n = 1;
      while (n < 6 && dr.chance(0.4)) n++;
      for (let i = 0; i < n; i++) {
        id++;
        const product = dr.weighted(PRODUCTS.map((p) => [p, p.weight] as const));
        const firmware = dr.weighted(product.firmware);
        let activated: number | null;
        if (product.launchDay !== undefined) {
          const launch = windowStart + product.launchDay * opts.days * DAY;
          activated = Math.max(launch, user.created) + Math.floor(-Math.log(1 - dr.next()) * 4 * DAY);
        } else {
          activated = user.created + Math.floor(-Math.log(1 - dr.next()) * 3 * DAY);
        }
        if (activated > end) activated = null;
        const device: SimDevice = { id, user, product, firmware, activated };
        devices.push(device);
        const owner = user.canary ? `Canarynick${opts.seed}x${user.canary}` : dr.pick(FIRST_NAMES);
        let nickname = `${owner[0]?.toUpperCase()}${owner.slice(1)}${dr.pick(NICKNAMES)}`;
        let ssid = `${dr.pick(SSID_STYLES)}${dr.int(10, 99)}`;
        let m = mac(dr);
        let serial = `SN${product.model.slice(0, 3).toUpperCase()}${String(dr.int(0, 99_999_999)).padStart(8, '0')}`;
        if (user.canary && i === 0) {
          ssid = `CANARYWIFI${opts.seed}N${user.canary}`;
          m = `02:ca:fe:${String(opts.seed % 100).padStart(2, '0')}:00:${String(user.canary).padStart(2, '0')}`;
          serial = `SNCANARY${opts.seed}X${user.canary}`;
          canaries.nicknames.push(nickname);
          canaries.ssids.push(ssid);
          canaries.macs.push(m);
          canaries.serials.push(serial);
        } else if (user.canary) nickname = `${nickname} ${i}`;
        const localIp = `192.168.${dr.int(0, 2)}.${dr.int(2, 250)}`;
        const lastSeen = activated === null ? null : ts(end - Math.floor(dr.next() * 2 * DAY));
        const updated =
          activated === null ? user.created : Math.max(activated, end - Math.floor(dr.next() * 60 * DAY));
        yield [
          id,
          user.id,
          m,
          serial,
          product.model,
          firmware,
          nickname,
          ssid,
          localIp,
          user.region.name,
          activated === null ? null : ts(activated),
          lastSeen,
          ts(updated),
        ] as const;
      }
    }
  }
  await count(
    'devices',
    [
      'id',
      'user_id',
      'mac',
      'serial',
      'product_model',
      'firmware_version',
      'nickname',
      'wifi_ssid',
      'local_ip',
      'region',
      'activated_at',
      'last_seen_at',
      'updated_at',
    ],
    deviceRows(),
  );

  // Shares, sessions, integrations.
  const sr = new Random(opts.seed, 3);
  function* shareRows() {
    let id = 0;
    for (const d of devices) {
      if (!d.product.camera || d.activated === null || !sr.chance(d.user.canary ? 1 : 0.12)) continue;
      id++;
      const email = d.user.canary
        ? `canary-share-${opts.seed}-${d.user.canary}-${id}@fleetvault-canary.test`
        : `${sr.pick(FIRST_NAMES)}${sr.int(1, 99)}@${sr.pick(MAIL_DOMAINS)}`;
      if (d.user.canary) canaries.emails.push(email);
      yield [id, d.id, email, ts(d.activated + Math.floor(sr.next() * 20 * DAY))] as const;
    }
  }
  await count('device_shares', ['id', 'device_id', 'shared_with_email', 'created_at'], shareRows());

  function* sessionRows() {
    let id = 0;
    for (const u of users) {
      const n = sr.chance(0.4) ? 2 : 1;
      for (let i = 0; i < n; i++) {
        id++;
        const token = u.canary ? `cnrytok${opts.seed}x${u.canary}x${i}${sr.token(24)}` : sr.token(40);
        if (u.canary) canaries.tokens.push(token);
        const login = end - Math.floor(sr.next() * Math.min(90 * DAY, end - u.created));
        const logout = sr.chance(0.3) ? ts(login + sr.int(60, 7200) * 1000) : null;
        yield [
          id,
          u.id,
          token,
          sr.weighted([
            ['ios', 45],
            ['android', 45],
            ['web', 10],
          ]),
          sr.weighted(APP_VERSIONS),
          ts(login),
          logout,
        ] as const;
      }
    }
  }
  await count(
    'app_sessions',
    ['id', 'user_id', 'api_token', 'platform', 'app_version', 'last_login_at', 'last_logout_at'],
    sessionRows(),
  );

  function* integrationRows() {
    let id = 0;
    for (const u of users) {
      if (!sr.chance(u.canary ? 1 : 0.08)) continue;
      id++;
      const provider = u.canary
        ? 'alexa'
        : sr.weighted(PROVIDERS.map((p, i) => [p, [55, 35, 10][i] ?? 1] as const));
      let access =
        provider === 'alexa'
          ? `Atza|${sr.token(60)}`
          : provider === 'google_assistant'
            ? `ya29.${sr.token(70)}`
            : sr.token(48);
      if (u.canary) access = `Atza|cnryassist${opts.seed}x${u.canary}${sr.token(30)}`;
      const refresh = sr.chance(0.8) ? `Atzr|${sr.token(60)}` : null;
      if (u.canary) canaries.tokens.push(access);
      const linked = u.created + Math.floor(sr.next() * (end - u.created));
      yield [id, u.id, provider, access, refresh, ts(linked)] as const;
    }
  }
  await count(
    'integrations',
    ['id', 'user_id', 'provider', 'access_token', 'refresh_token', 'linked_at'],
    integrationRows(),
  );

  // Connection events, day by day so ids grow with time.
  const er = new Random(opts.seed, 4);
  const badRelease = windowStart + BAD_FIRMWARE.releaseDay * opts.days * DAY;
  function* eventRows() {
    let id = 0;
    for (let day = 0; day < opts.days; day++) {
      const dayStart = windowStart + day * DAY;
      const dayEnd = dayStart + DAY;
      for (const d of devices) {
        if (d.activated === null || d.activated >= dayEnd) continue;
        const from = Math.max(dayStart, d.activated);
        const firstDay = d.activated >= dayStart;
        let n = er.poisson(d.product.eventsPerDay * ((dayEnd - from) / DAY));
        if (firstDay) n = Math.max(n, 1);
        const bad = d.product.model === BAD_FIRMWARE.model && d.firmware === BAD_FIRMWARE.version;
        for (let i = 0; i < n; i++) {
          id++;
          const t =
            firstDay && i === 0
              ? d.activated + Math.floor(-Math.log(1 - er.next()) * 120_000)
              : from + Math.floor(er.next() * (dayEnd - from));
          let p = d.user.region.failRate * d.product.failFactor;
          if (bad && t >= badRelease) p *= BAD_FIRMWARE.failMultiplier;
          const fail = er.chance(Math.min(p, 0.9));
          const code = fail
            ? bad && t >= badRelease && er.chance(0.6)
              ? 'E_TLS'
              : er.weighted(ERROR_CODES)
            : null;
          const rssi = Math.max(-98, Math.min(-30, Math.round(er.normal(fail ? -74 : -61, 8))));
          const duration = Math.round(fail ? er.int(2000, 15000) : -Math.log(1 - er.next()) * 700 + 120);
          const ip = d.user.canary || er.chance(0.02) ? d.user.ip : publicIp(er);
          yield [
            id,
            d.id,
            ts(t),
            fail ? 'fail' : 'success',
            code,
            rssi,
            duration,
            ip,
            er.weighted(APP_VERSIONS),
          ] as const;
        }
      }
    }
  }
  await count(
    'connection_events',
    ['id', 'device_id', 'ts', 'outcome', 'error_code', 'rssi', 'duration_ms', 'client_ip', 'app_version'],
    eventRows(),
  );

  // Body measurements from smart scales.
  const mr = new Random(opts.seed, 5);
  function* scaleRows() {
    let id = 0;
    for (const d of devices) {
      if (d.product.model !== 'scale-body' || d.activated === null) continue;
      const gender = mr.weighted([
        ['female', 48],
        ['male', 48],
        ['other', 4],
      ]);
      const height = Math.round(mr.normal(gender === 'male' ? 178 : 165, 7) * 10) / 10;
      let weight = Math.round(mr.normal(gender === 'male' ? 82 : 67, 12) * 10) / 10;
      for (let day = 0; day < opts.days; day++) {
        const t = windowStart + day * DAY + mr.int(6 * 3600, 9 * 3600) * 1000;
        if (t < d.activated || !mr.chance(0.4)) continue;
        id++;
        weight = Math.round((weight + mr.normal(0, 0.3)) * 10) / 10;
        yield [id, d.user.id, ts(t), height, weight, Math.round(mr.normal(24, 6) * 10) / 10, gender] as const;
      }
    }
  }
  await count(
    'scale_measurements',
    ['id', 'user_id', 'ts', 'height_cm', 'weight_kg', 'body_fat_pct', 'gender'],
    scaleRows(),
  );

  await db.exec(DEMO_CONSTRAINTS);
  if (hardDeleted.length > 0) {
    await db.exec(`DELETE FROM users WHERE id IN (${hardDeleted.join(',')})`);
    rows.hard_deleted_users = hardDeleted.length;
  }
  return { rows, canaries, durationMs: Date.now() - started };
}

/** Every canary as one flat list, for searching outputs. */
export function canaryValues(c: Canaries): string[] {
  return Object.values(c).flat();
}
