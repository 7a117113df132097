import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Random } from '../../src/sim/random.ts';

/**
 * One labelled value: the detector that must fire, `none` for a look-alike that is not personal,
 * or `not:<detector>` for a value that detector must leave alone (a labelled negative of a public
 * test suite). `source` says where it came from; `column` is the column name it sits in when the
 * label needs column-name evidence (a bare phone number in a `phone` column).
 */
export interface LabelledValue {
  readonly label: string;
  readonly value: string;
  readonly source?: string;
  readonly column?: string;
}

const d = (r: Random, n: number) => r.token(n, '0123456789');
const hexs = (r: Random, n: number) => r.token(n, '0123456789abcdef');
const b64url = (s: string) => Buffer.from(s).toString('base64url');

function luhnComplete(prefix: string, length: number, r: Random): string {
  let body = prefix + d(r, length - prefix.length - 1);
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let x = Number(body[body.length - 1 - i]);
    if (i % 2 === 0) {
      x *= 2;
      if (x > 9) x -= 9;
    }
    sum += x;
  }
  body += String((10 - (sum % 10)) % 10);
  return body;
}

function groupCard(n: string, sep: string): string {
  return n.length === 15
    ? `${n.slice(0, 4)}${sep}${n.slice(4, 10)}${sep}${n.slice(10)}`
    : n.replace(/(\d{4})(?=\d)/g, `$1${sep}`);
}

const FIRST = [
  'anna',
  'Bob',
  'chen.wei',
  'dmitri',
  'elif',
  'FATIMA',
  'giulia',
  'hiro',
  'ines',
  'jose',
  'kwame',
  'lea',
];
const DOMAINS = [
  'gmail.com',
  'example.org',
  'mail.example.co.uk',
  'uni-heidelberg.de',
  'proton.me',
  'sub.domain.io',
  'outlook.fr',
  'yahoo.co.jp',
];

const PHONES: ReadonlyArray<(r: Random) => string> = [
  (r) => `+1 ${d(r, 3)} ${d(r, 3)} ${d(r, 4)}`,
  (r) => `+1-${d(r, 3)}-${d(r, 3)}-${d(r, 4)}`,
  (r) => `(${r.int(201, 989)}) ${r.int(200, 999)}-${d(r, 4)}`,
  (r) => `${r.int(201, 989)}-${r.int(200, 999)}-${d(r, 4)}`,
  (r) => `${r.int(201, 989)}.${r.int(200, 999)}.${d(r, 4)}`,
  (r) => `+44 20 ${d(r, 4)} ${d(r, 4)}`,
  (r) => `+44 7700 ${d(r, 6)}`,
  (r) => `020 ${d(r, 4)} ${d(r, 4)}`,
  (r) => `+49 30 ${d(r, 6)}`,
  (r) => `+49 151 ${d(r, 8)}`,
  (r) => `0049 30 ${d(r, 7)}`,
  (r) => `+33 1 ${d(r, 2)} ${d(r, 2)} ${d(r, 2)} ${d(r, 2)}`,
  (r) => `01 ${d(r, 2)} ${d(r, 2)} ${d(r, 2)} ${d(r, 2)}`,
  (r) => `+81 3-${d(r, 4)}-${d(r, 4)}`,
  (r) => `090-${d(r, 4)}-${d(r, 4)}`,
  (r) => `+61 2 ${d(r, 4)} ${d(r, 4)}`,
  (r) => `+65 ${d(r, 4)} ${d(r, 4)}`,
  (r) => `+91 ${d(r, 5)} ${d(r, 5)}`,
  (r) => `+55 11 9${d(r, 4)}-${d(r, 4)}`,
  (r) => `+86 138 ${d(r, 4)} ${d(r, 4)}`,
  (r) => `call me at +1 ${d(r, 3)} ${d(r, 3)} ${d(r, 4)} please`,
  (r) => `+34${d(r, 9)}`,
];

function ipv6(r: Random): string {
  const g = () => r.hex(2).replace(/^0+(?=.)/, '');
  const forms = [
    () => Array.from({ length: 8 }, () => r.hex(2)).join(':'),
    () => `2001:db8::${g()}`,
    () => `fe80::${g()}:${g()}:${g()}:${g()}%eth0`,
    () => `::ffff:${r.int(1, 223)}.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}`,
    () => `2a00:${g()}:${g()}::${g()}`,
    () => `[2001:db8:${g()}::${g()}]:443`,
  ];
  return r.pick(forms)();
}

const TOKENS: ReadonlyArray<(r: Random) => string> = [
  (r) => `sk_live_${r.token(24)}`,
  (r) => `sk_test_${r.token(24)}`,
  (r) => `ghp_${r.token(36)}`,
  (r) => `xoxb-${d(r, 12)}-${d(r, 12)}-${r.token(24)}`,
  (r) => `AKIA${r.token(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567')}`,
  (r) => `Atza|${r.token(80)}`,
  (r) => `ya29.${r.token(70)}`,
  (r) => `glpat-${r.token(20)}`,
  (r) => `AIza${r.token(35)}`,
  (r) => r.token(32),
  (r) => r.token(40),
  (r) => `Bearer ${r.token(48)}`,
  (r) => `${r.token(43, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/')}=`,
];

const NEGATIVES: ReadonlyArray<(r: Random) => string> = [
  (r) => `${r.int(0, 9)}.${r.int(0, 20)}.${r.int(0, 30)}`,
  (r) => `v${r.int(0, 9)}.${r.int(0, 20)}.${r.int(0, 30)}-rc${r.int(1, 5)}`,
  (r) => `fw-${r.int(1, 9)}.${r.int(0, 9)}.${r.int(0, 40)}-build${d(r, 4)}`,
  (r) => `${r.int(1, 9)}.${r.int(0, 20)}.${r.int(0, 9)}+sha.${hexs(r, 7)}`,
  (r) => `v${r.int(1, 9)}.${r.int(0, 9)}.${r.int(0, 9)}.${r.int(0, 99)}`,
  (r) => `release/${r.int(2020, 2027)}.${r.int(1, 12)}.${r.int(0, 9)}`,
  (r) =>
    r.pick(['CAM-OUT-V3', 'PLG-MINI-2024', 'cam-indoor-2', 'DB-PRO-0042-EU', 'bulb-color', 'lock-smart']),
  (r) => `SKU-${d(r, 6)}`,
  (r) => r.pick(['E_TIMEOUT', 'E_WIFI_ASSOC', 'E_TLS', 'ERR-5012', 'ECONNREFUSED', 'HTTP 503', 'errno 111']),
  (r) => `0x${r.token(8, '0123456789ABCDEF')}`,
  (r) => hexs(r, 32),
  (r) => hexs(r, 40),
  (r) => hexs(r, 64),
  (r) => hexs(r, 64).toUpperCase(),
  (r) => `${hexs(r, 8)}-${hexs(r, 4)}-4${hexs(r, 3)}-a${hexs(r, 3)}-${hexs(r, 12)}`,
  (r) =>
    `${r.int(2020, 2027)}-${String(r.int(1, 12)).padStart(2, '0')}-${String(r.int(1, 28)).padStart(2, '0')}T${String(r.int(0, 23)).padStart(2, '0')}:${String(r.int(0, 59)).padStart(2, '0')}:00Z`,
  (r) =>
    `${r.int(2020, 2027)}-${String(r.int(1, 12)).padStart(2, '0')}-${String(r.int(1, 28)).padStart(2, '0')} ${String(r.int(0, 23)).padStart(2, '0')}:${String(r.int(0, 59)).padStart(2, '0')}:${String(r.int(0, 59)).padStart(2, '0')}+00`,
  (r) =>
    `${String(r.int(1, 12)).padStart(2, '0')}/${String(r.int(1, 28)).padStart(2, '0')}/${r.int(2020, 2027)}`,
  (r) =>
    `${String(r.int(0, 23)).padStart(2, '0')}:${String(r.int(0, 59)).padStart(2, '0')}:${String(r.int(0, 59)).padStart(2, '0')}`,
  (r) => d(r, r.int(4, 9)),
  (r) => `${r.int(0, 99)}.${d(r, 5)}`,
  (r) => `${r.int(-95, -30)}`,
  (r) => `${r.int(10, 9000)}ms`,
  (r) => `${r.int(-10, 40)}.${r.int(0, 9)}°C`,
  (r) =>
    r.pick([
      'firmware update failed',
      'Living room',
      'connected',
      'retry after backoff 30s',
      'signal weak, moving closer',
      'ok',
    ]),
  (r) => `#${hexs(r, 6)}`,
  (r) => `ingest-${hexs(r, 10)}-${r.token(5, 'abcdefghijklmnopqrstuvwxyz0123456789')}`,
  (r) => `>=${r.int(1, 3)}.${r.int(0, 9)}.0 <${r.int(4, 6)}.0.0`,
  (r) => r.pick(['eu-west-1', 'us-east-2', 'ap-southeast-1', 'DE', 'EUR', 'en-GB', 'Europe/Berlin']),
  (r) => `https://updates.example.com/fw/cam-outdoor-3/${r.int(1, 4)}.${r.int(0, 9)}.${r.int(0, 9)}.bin`,
  (r) => `INV-${r.int(2020, 2027)}-${d(r, 6)}`,
  (r) => `PT${r.int(1, 59)}M`,
  (r) =>
    r.pick([
      'deviceFirmwareUpdate2024Release',
      'ConnectionTimeoutException',
      'com.example.camera.StreamService',
      'MAX_RETRY_COUNT_EXCEEDED',
    ]),
  (r) =>
    `Build ${r.int(2020, 2027)}${String(r.int(1, 12)).padStart(2, '0')}${String(r.int(1, 28)).padStart(2, '0')}.${r.int(1, 9)}`,
  (r) => luhnComplete('4', 16, r).replace(/\d$/, (x) => String((Number(x) + 1) % 10)),
  (r) => `order ${d(r, 10)}`,
  (r) => `${r.int(1, 64)} GB`,
  (r) => `/var/lib/fleet/${r.token(6, 'abcdefghijklmnopqrstuvwxyz')}.log`,
  (r) =>
    `model=${r.pick(['cam-outdoor-3', 'plug-mini'])};fw=${r.int(1, 5)}.${r.int(0, 9)}.${r.int(0, 9)};rssi=-${r.int(40, 90)}`,
];

/**
 * The generated part of the corpus: real-looking personal and secret values of every detector's
 * kind, and look-alikes that are not personal, written by fleetvault. Deterministic from its seed.
 */
export function generatedCorpus(seed = 2019): LabelledValue[] {
  const r = new Random(seed, 99);
  const out: LabelledValue[] = [];
  const add = (label: string, n: number, make: () => string) => {
    for (let i = 0; i < n; i++) out.push({ label, value: make() });
  };
  add('email', 150, () => {
    const v = `${r.pick(FIRST)}${r.chance(0.5) ? `.${r.token(5, 'abcdefghij')}` : ''}${r.chance(0.3) ? `+${r.token(4, 'abcdef')}` : ''}${r.chance(0.5) ? d(r, 2) : ''}@${r.pick(DOMAINS)}`;
    return r.pick([v, `contact: ${v}`, `<${v}>`, v.toUpperCase()]);
  });
  add('phone', 176, () => r.pick(PHONES)(r));
  add('ipv4', 150, () => {
    const ip = `${r.int(1, 223)}.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}`;
    return r.pick([ip, `ip=${ip}`, `${ip}:8080`, `client ${ip} refused`]);
  });
  add('ipv6', 150, () => ipv6(r));
  add('mac', 150, () => {
    const b = Array.from({ length: 6 }, () => hexs(r, 2));
    return r.pick([
      b.join(':'),
      b.join(':').toUpperCase(),
      b.join('-').toUpperCase(),
      `${b[0]}${b[1]}.${b[2]}${b[3]}.${b[4]}${b[5]}`,
    ]);
  });
  add('jwt', 150, () => {
    const header = b64url(JSON.stringify({ alg: r.pick(['HS256', 'RS256', 'ES256']), typ: 'JWT' }));
    const payload = b64url(
      JSON.stringify({ sub: d(r, 8), iat: 1_700_000_000 + r.int(0, 1e7), scope: 'devices:read' }),
    );
    return `${header}.${payload}.${r.token(43, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_')}`;
  });
  add('token', 195, () => r.pick(TOKENS)(r));
  add('card', 150, () => {
    const [prefix, len] = r.pick([
      ['4', 16],
      ['51', 16],
      ['55', 16],
      ['2221', 16],
      ['34', 15],
      ['37', 15],
      ['6011', 16],
    ] as const);
    return groupCard(luhnComplete(prefix, len, r), r.pick(['', ' ', '-']));
  });
  add('card', 60, () => {
    // Less common brands: Maestro, Dankort, UATP, UnionPay, Mir, JCB, Diners, Troy, RuPay.
    const [prefix, len] = r.pick([
      ['6759', 16],
      ['5018', 16],
      ['5019', 16],
      ['1', 15],
      ['62', 16],
      ['2201', 16],
      ['3530', 16],
      ['36', 14],
      ['9792', 16],
      ['6521', 16],
    ] as const);
    return groupCard(luhnComplete(prefix, len, r), r.pick(['', ' ']));
  });
  add('coordinates', 120, () => {
    const lat = (r.int(-89_000_000, 89_000_000) / 1e6).toFixed(6);
    const lon = (r.int(-179_000_000, 179_000_000) / 1e6).toFixed(r.int(4, 6));
    return r.pick([
      `${lat}, ${lon}`,
      `${lat},${lon}`,
      `POINT(${lon} ${lat})`,
      `lat=${lat}&lon=${lon}`,
      `{"lat": ${lat}, "lng": ${lon}}`,
      `last fix ${lat} ${lon}`,
    ]);
  });
  add('url_credentials', 100, () => {
    const user = r.pick(['app', 'admin', 'fleet_sync', 'jane.doe', 'svc']);
    const pass = r.token(r.int(6, 20));
    const host = r.pick(['db.internal', '10.0.4.12', 'broker.example.com:8883', 'ftp.example.org']);
    return `${r.pick(['postgres', 'mysql', 'mqtts', 'https', 'ftp', 'redis', 'amqp'])}://${user}:${pass}@${host}/${r.pick(['prod', 'fleet', '', 'v1'])}`;
  });
  add('ssn', 100, () => {
    const area = String(r.int(1, 899)).padStart(3, '0').replace(/^666$/, '667');
    const v = `${area}${r.pick(['-', ' ', '.'])}${String(r.int(1, 99)).padStart(2, '0')}`;
    return `${v}${v[3]}${String(r.int(1, 9999)).padStart(4, '0')}`;
  });
  add('none', 1200, () => r.pick(NEGATIVES)(r));
  return out;
}

/** The JSON stays in bench/corpus/, read from test/helpers/ (tests) or dist/test/helpers/ (the bench). */
const PUBLIC_CORPUS = fileURLToPath(
  new URL(
    import.meta.url.includes('/dist/')
      ? '../../../bench/corpus/public-corpus.json'
      : '../../bench/corpus/public-corpus.json',
    import.meta.url,
  ),
);

/** The part of the corpus taken from public sources (bench/corpus/PROVENANCE.md). */
export function publicCorpus(): LabelledValue[] {
  const rows = JSON.parse(readFileSync(PUBLIC_CORPUS, 'utf8')) as Array<[string, string, string, string?]>;
  return rows.map(([label, value, source, column]) => ({
    label,
    value,
    source,
    ...(column ? { column } : {}),
  }));
}

const ARABIC_INDIC = '٠١٢٣٤٥٦٧٨٩';
const DEVANAGARI = '०१२३४५६७८९';
const fullWidth = (s: string) => s.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));
const digitsIn = (s: string, zeroTo9: string) => s.replace(/\d/g, (d) => zeroTo9[Number(d)] as string);

/**
 * Disguised forms of the public positives, made the ways an outside review found them to pass
 * (issue 22): percent-encoded or full-width `@`, zero-width characters inside an address, IPv4 as
 * one integer or hex number, MACs without separators, phone numbers in other scripts' digits.
 */
export function disguisedCorpus(base: readonly LabelledValue[]): LabelledValue[] {
  const out: LabelledValue[] = [];
  const from = (label: string) => base.filter((c) => c.label === label);
  for (const c of from('email').filter((c) => /^[^\s@]+@[^\s@]+$/.test(c.value))) {
    const src = `disguised: ${c.source}`;
    out.push({ label: 'email', value: c.value.replace('@', '%40'), source: `${src} (%40)` });
    out.push({ label: 'email', value: c.value.replace('@', '%2540'), source: `${src} (%2540)` });
    out.push({ label: 'email', value: c.value.replace('@', '＠'), source: `${src} (full-width @)` });
    out.push({ label: 'email', value: fullWidth(c.value), source: `${src} (full-width)` });
    out.push({
      label: 'email',
      value: c.value.replace('@', '\u200B@\u200B').replace('.', '\u200C.'),
      source: `${src} (zero-width)`,
    });
    out.push({ label: 'email', value: c.value.replace('@', '&#64;'), source: `${src} (&#64;)` });
  }
  const ips = base
    .filter((c) => c.label === 'ipv4')
    .flatMap((c) => c.value.match(/\b(?:\d{1,3}\.){3}\d{1,3}\b/g) ?? []);
  for (const ip of new Set(ips)) {
    const parts = ip.split('.').map(Number);
    if (parts.some((p) => p > 255) || (parts[0] as number) === 0 || ip === '255.255.255.255') continue;
    const n = parts.reduce((a, p) => a * 256 + p, 0);
    out.push({ label: 'ipv4', value: `http://${n}/admin`, source: 'disguised: presidio ip (integer host)' });
    out.push({
      label: 'ipv4',
      value: `ip=0x${n.toString(16).toUpperCase()}`,
      source: 'disguised: presidio ip (hex)',
    });
    out.push({
      label: 'ipv4',
      value: parts.map((p) => `0x${p.toString(16)}`).join('.'),
      source: 'disguised: presidio ip (dotted hex)',
    });
    out.push({
      label: 'ipv4',
      value: `${ip.replace(/\./g, '%2E')}`,
      source: 'disguised: presidio ip (percent-encoded dots)',
    });
    out.push({ label: 'ipv4', value: fullWidth(ip), source: 'disguised: presidio ip (full-width)' });
  }
  for (const c of base.filter((c) => c.label === 'mac')) {
    const hex = (c.value.match(/[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}/) ?? [])[0];
    if (!hex) continue;
    out.push({
      label: 'mac',
      value: `mac=${hex.replace(/[:-]/g, '')}`,
      source: 'disguised: presidio mac (no separators, keyed)',
    });
    out.push({
      label: 'mac',
      value: hex.replace(/[:-]/g, ''),
      source: 'disguised: presidio mac (no separators, mac column)',
      column: 'mac',
    });
  }
  for (const c of from('phone').filter((c) => c.source?.startsWith('chinook'))) {
    out.push({
      label: 'phone',
      value: digitsIn(c.value, ARABIC_INDIC),
      source: 'disguised: chinook phone (Arabic-Indic digits)',
    });
    out.push({
      label: 'phone',
      value: digitsIn(c.value, DEVANAGARI),
      source: 'disguised: chinook phone (Devanagari digits)',
    });
    out.push({ label: 'phone', value: fullWidth(c.value), source: 'disguised: chinook phone (full-width)' });
    out.push({
      label: 'phone',
      value: c.value.replace(/\D/g, ''),
      source: 'disguised: chinook phone (bare digits, phone column)',
      column: 'phone',
    });
  }
  return out;
}

/** The whole labelled corpus: generated, public, and disguised forms of the public positives. */
export function detectorCorpus(seed = 2019): LabelledValue[] {
  const pub = publicCorpus();
  return [
    ...generatedCorpus(seed).map((c) => ({ ...c, source: 'generated' })),
    ...pub,
    ...disguisedCorpus(pub),
  ];
}
