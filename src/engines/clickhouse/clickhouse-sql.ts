import type { ClickHouseSettings } from '@clickhouse/client';
import type { DuckDBConnection } from '@duckdb/node-api';
import { FvError } from '../../errors/index.ts';
import { MAX_INTEGER_DIGITS } from '../../store/decimal-shape.ts';
import { SANDBOX_DEFAULTS, type SandboxLimits } from '../duckdb/read-only-sql.ts';
import { checkSql, type GuardDialect, type GuardedResult } from '../duckdb/sql-guard.ts';
import { type ClickHouseNode, describeClickHouseError } from './clickhouse-node.ts';

/** ClickHouse functions that reach dictionaries, other servers, files or the server's own facts. */
const DIALECT: GuardDialect = {
  names: new Set([
    'joinget',
    'getmacro',
    'hostname',
    'fqdn',
    'version',
    'uptime',
    'currentuser',
    'currentdatabase',
    'getsetting',
    'sleep',
    'sleepeachrow',
    'file',
    'url',
    'remote',
    'remotesecure',
    'cluster',
    'input',
    // A table named by a string, and IN as a function: the set may be a table named bare.
    'hascolumnintable',
    'in',
    'notin',
    'globalin',
    'globalnotin',
    'nullin',
    'notnullin',
    'globalnullin',
    'globalnotnullin',
  ]),
  prefixes: ['dict', 'filesystem', 'system', 'bitmap'],
  // numbers(), zeros() and the like are not needed for analytics; no table function is allowed.
  generators: new Set(),
};

/** The server's codes for a limit reached: time, memory, rows read (18.16 and current servers). */
const LIMIT_CODES = new Set(['159', '241', '158', '396']);
/** Rows an analyst statement may read on the server, across shards. */
export const MAX_ROWS_TO_READ = 100_000_000;

/**
 * One analyst SELECT on ClickHouse. It is checked on a portable parse tree first (DuckDB's parser:
 * one SELECT, analytics views only, CTE names resolved by scope, no table functions, no denied
 * function; ClickHouse-only syntax such as SETTINGS or INTO OUTFILE does not parse and is
 * refused). ClickHouse binds it on the server, where fleetvault cannot look at the plan; it runs
 * with `readonly = 1` (the server refuses any write or setting change) and limits the server
 * enforces itself: memory, rows read, threads and time (`max_memory_usage`, `max_rows_to_read`,
 * `max_threads`, `max_execution_time`), plus a row cap on the result. The request is also
 * abandoned a second after the deadline.
 */
export async function clickHouseGuardedSql(
  parser: DuckDBConnection,
  node: ClickHouseNode,
  sql: string,
  tables: ReadonlySet<string>,
  decimalColumns: ReadonlySet<string>,
  limits: SandboxLimits,
): Promise<GuardedResult> {
  sameTokens(sql);
  const decimals = new DecimalText(decimalColumns);
  let broken: string | undefined;
  await checkSql(parser, sql, tables, {
    ...DIALECT,
    inspect: (n) => {
      refuseNamedSet(n);
      decimals.inspect(n);
      if (n.class === 'FUNCTION' && BROKEN_BEFORE_20.has(String(n.function_name).toLowerCase()))
        broken ??= String(n.function_name).toLowerCase();
    },
  });
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), limits.timeoutMs + 1000);
  // The analyst profile, on every request the statement makes: 18.16 runs a statement's scalar
  // subqueries while describing it, so the description is limited as the statement is.
  const settings = {
    readonly: '1',
    max_result_rows: String(limits.maxRows + 1),
    result_overflow_mode: 'break',
    max_execution_time: Math.max(1, Math.ceil(limits.timeoutMs / 1000)),
    timeout_overflow_mode: 'throw',
    max_memory_usage: String((limits.memoryMb ?? SANDBOX_DEFAULTS.memoryMb) * 1024 * 1024),
    max_rows_to_read: String(limits.maxRowsToRead ?? MAX_ROWS_TO_READ),
    read_overflow_mode: 'throw',
    max_threads: limits.threads ?? SANDBOX_DEFAULTS.threads,
  } as const;
  try {
    if (await before20(node)) {
      if (broken)
        throw new FvError(
          'FV_SQL_REFUSED',
          `function ${broken} is not allowed on ClickHouse before 20: 18.16 answers an integer division by the constant -1 with memory it never wrote (other queries' values); use x / y, or run ClickHouse 20 or newer`,
        );
      decimals.refuseText();
      await refuseDecimals(node, sql, settings, abort.signal);
    }
    const r = await node.json(sql, settings, abort.signal);
    return {
      columns: r.meta.map((m) => m.name),
      rows: r.data.slice(0, limits.maxRows),
      truncated: r.data.length > limits.maxRows,
    };
  } catch (error) {
    if (error instanceof FvError && error.code === 'FV_SQL_REFUSED') throw error;
    if (abort.signal.aborted)
      throw new FvError(
        'FV_SQL_LIMIT',
        `the statement ran longer than ${limits.timeoutMs} ms and was stopped`,
      );
    const why = describeClickHouseError(error);
    const code = /\(code (\d+)\)$/.exec(why)?.[1];
    if (code && LIMIT_CODES.has(code))
      throw new FvError(
        'FV_SQL_LIMIT',
        `the statement reached a limit of the analyst profile and was stopped: ${why}`,
      );
    throw new FvError('FV_SQL_FAILED', why);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The guard checks DuckDB's parse of a statement, and ClickHouse runs its own: both must read the
 * same tokens. They split text differently in comments (DuckDB nests block comments, ClickHouse
 * 18.16 does not, so a comment opened twice and closed once hid the rest of a statement from the
 * guard), in backslashes (escapes inside ClickHouse's strings and quoted names, plain characters
 * to DuckDB), in `$` (DuckDB's dollar-quoted strings, later ClickHouse's heredocs), in a NUL (the
 * end of the text to DuckDB's parser) and in characters outside ASCII. None of these is allowed:
 * outside string literals only printable ASCII without comments, backslashes, `$` or backticks;
 * inside them, no backslash and no control character. Both read a doubled quote as one.
 */
export function sameTokens(sql: string): void {
  const refuse = (what: string, at: number): never => {
    throw new FvError(
      'FV_SQL_REFUSED',
      `${what} at character ${at + 1}: analyst SQL on ClickHouse has no comments, backslashes, "$", backticks or characters outside printable ASCII outside its string literals, and no backslash or control character inside them`,
    );
  };
  const control = (c: string) => c < ' ' && c !== '\t' && c !== '\n' && c !== '\r';
  let quote: string | undefined;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i] as string;
    const next = sql[i + 1];
    if (quote) {
      if (c === '\\') refuse('a backslash in a quoted text', i);
      if (control(c)) refuse('a control character', i);
      if (c === quote) {
        if (next === quote) i++;
        else quote = undefined;
      }
    } else if (c === "'" || c === '"') quote = c;
    else if (
      (c === '-' && next === '-') ||
      (c === '/' && next === '*') ||
      (c === '*' && next === '/') ||
      c === '#'
    )
      refuse('a comment', i);
    else if (c === '\\' || c === '$' || c === '`') refuse(`the character ${JSON.stringify(c)}`, i);
    else if (control(c) || c > '~') refuse('a character outside printable ASCII', i);
  }
  if (quote) refuse('a quoted text not closed', sql.length - 1);
}

/**
 * Functions 18.16 computes wrongly in a way that leaks: `intDiv(x, -1)` with a constant divisor
 * returned whatever the result's memory held before (heap addresses, values of another user's
 * query: found by an outside review); a divisor computed from constants is a constant too, so
 * the functions are refused there whatever their arguments.
 */
const BROKEN_BEFORE_20 = new Set(['intdiv', 'intdivorzero']);

/**
 * ClickHouse reads a bare name on the right of `IN` (`x IN system.one`, `x IN (_fv_meta)`) as a
 * table, whole, to build the set; DuckDB parses it as a column (`x IN y` becomes `contains(y, x)`,
 * `x IN (y)` a list holding column y), so the guard never saw a table there. The set of an `IN` is
 * a list of values or a subquery; a name in it is refused.
 */
export function refuseNamedSet(n: { readonly [key: string]: unknown }): void {
  // A name, and what DuckDB turns a bare word into: `true`/`false` (constants to DuckDB, names to
  // 18.16, which has no boolean literals) and `current_date`-like calls without arguments.
  // DuckDB writes `true` as a cast of 't' placed nowhere in the text (its location unknown).
  const named = (x: unknown) => {
    const e = x as
      | {
          class?: unknown;
          value?: { type?: { id?: unknown } };
          children?: unknown[];
          query_location?: unknown;
        }
      | undefined;
    return (
      e?.class === 'COLUMN_REF' ||
      (typeof e?.query_location === 'number' && e.query_location > Number.MAX_SAFE_INTEGER) ||
      (e?.class === 'CONSTANT' && e.value?.type?.id === 'BOOLEAN') ||
      (e?.class === 'FUNCTION' && e.children?.length === 0)
    );
  };
  const children = (n.children as unknown[] | undefined) ?? [];
  const set =
    n.class === 'OPERATOR' && (n.type === 'COMPARE_IN' || n.type === 'COMPARE_NOT_IN')
      ? children.slice(1)
      : n.class === 'FUNCTION' && String(n.function_name).toLowerCase() === 'contains'
        ? children.slice(0, 1)
        : [];
  // A call alone as the set may be a table function to ClickHouse (`x IN numbers(10)`, `x IN
  // (merge('system', '^one$'))`): DuckDB sees a scalar function.
  const call = set.length === 1 && (set[0] as { class?: unknown } | undefined)?.class === 'FUNCTION';
  if (call || set.some(named))
    throw new FvError(
      'FV_SQL_REFUSED',
      'the set of an IN is a name, a word or a single call, which ClickHouse may read as a table: give a list of values or a subquery',
    );
}

const servers = new WeakMap<ClickHouseNode, Promise<boolean>>();

/**
 * Whether the server is before 20, where the rules for old servers apply: 18.16 (Debian's)
 * crashed printing a wide Decimal128 as text (3M values of 26 integer digits at once; 20, 21 and
 * 24 never did) and answered `intDiv(x, -1)` with memory it never wrote. Asked once a node.
 */
function before20(node: ClickHouseNode): Promise<boolean> {
  let known = servers.get(node);
  if (!known) {
    known = node
      .rows('SELECT version()', 'read the server version', { readonly: '1' })
      .then((r) => !(Number(String(r[0]?.[0] ?? '').split('.')[0]) >= 20)) // unknown: as before 20
      .catch((error: unknown) => {
        servers.delete(node); // asked again next time
        throw error;
      });
    servers.set(node, known);
  }
  return known;
}

/**
 * Functions that print a value of any type as text, or measure it printed (ClickHouse before 20,
 * and the ones later servers added, in case one is taken for an older one).
 */
const TEXT_FUNCTIONS = new Set([
  'tostring',
  'tostringcuttozero',
  'tofixedstring',
  'visiblewidth',
  'concat',
  'concatassumeinjective',
  'arraystringconcat',
  'format',
  'formatrow',
  'formatrownonewline',
  'tojsonstring',
  'hex',
  'bin',
]);
/**
 * Functions that take a type or a function as a string, which a statement can compute
 * (`reverse(')0(821lamiceD')`): each may make a decimal and may make text, whatever its arguments
 * name. ClickHouse's `CAST(x, 'T')` is one (DuckDB keeps `"CAST"(x, 'T')` as a function of that name).
 */
const TYPE_FROM_TEXT = /cast|reinterpret|jsonextract|defaultvalueof|initializeaggregation|arrayreduce/;
/** Type names, as DuckDB's parser keeps them, that are text or a decimal. */
const TEXT_TYPE = /string|text|char|blob/i;
const DECIMAL = /decimal/i;
/**
 * Functions that take no argument. DuckDB's parse tree keeps `f(*)` as `f()` with no argument,
 * and ClickHouse may expand that `*` to every column: any other call without arguments is taken
 * as one that may read a decimal column.
 */
const NO_ARGUMENTS = new Set([
  'count',
  'count_star',
  'now',
  'now64',
  'today',
  'yesterday',
  'rand',
  'rand32',
  'rand64',
  'randconstant',
  'generateuuidv4',
  'pi',
  'e',
  'timezone',
]);

/**
 * What a statement does with decimals, from its parse tree: whether it reads or makes one (a
 * decimal column of the analytics tables, `*` while any table holds one, a `toDecimal…` function,
 * a cast to a decimal, a type named in a string as `JSONExtract(…, 'Decimal128(0)')` takes it),
 * and the first way it turns a value into text (`toString`, a cast to `String`, and the like).
 * Conservative on both sides: a name is enough.
 */
export class DecimalText {
  private decimal = false;
  private text: string | undefined;

  constructor(private readonly decimalColumns: ReadonlySet<string>) {}

  readonly inspect = (n: { readonly [key: string]: unknown }): void => {
    if (n.class === 'COLUMN_REF') {
      const names = n.column_names as unknown[];
      if (this.decimalColumns.has(String(names[names.length - 1]).toLowerCase())) this.decimal = true;
    } else if (n.class === 'STAR') {
      if (this.decimalColumns.size > 0) this.decimal = true;
    } else if (n.class === 'FUNCTION') {
      const name = String(n.function_name).toLowerCase();
      if (DECIMAL.test(name)) this.decimal = true;
      const star = (n.children as unknown[] | undefined)?.length === 0 && !NO_ARGUMENTS.has(name);
      if (star && this.decimalColumns.size > 0) this.decimal = true;
      if (TYPE_FROM_TEXT.test(name)) {
        this.decimal = true;
        this.text ??= `function ${name}`;
      }
      if (TEXT_FUNCTIONS.has(name)) this.text ??= `function ${name}`;
    } else if (n.class === 'CAST') {
      const type = JSON.stringify(n.cast_type);
      if (DECIMAL.test(type)) this.decimal = true;
      if (TEXT_TYPE.test(type)) this.text ??= 'a cast to text';
    } else if (n.class === 'CONSTANT') {
      const value = n.value as { value?: unknown } | undefined;
      if (typeof value?.value === 'string' && DECIMAL.test(value.value)) this.decimal = true;
    }
  };

  /**
   * On a server before 20: a statement that reads or makes decimals and turns anything into text
   * is refused. 18.16 crashed converting a decimal of 26 integer digits to text inside a statement
   * (`toString`), where describing the result cannot see it; a sum or product of stored decimals
   * reaches that. Naming the conversion, never a value.
   */
  refuseText(): void {
    if (!this.decimal || !this.text) return;
    throw new FvError(
      'FV_SQL_REFUSED',
      `on ClickHouse before 20, a statement that reads or makes decimals may not turn values into text (${this.text}): 18.16 crashed converting a decimal of more than ${MAX_INTEGER_DIGITS} integer digits to text; select decimals as numbers (toFloat64(…)), or run ClickHouse 20 or newer`,
    );
  }
}

/**
 * On such a server, an analyst statement's result columns are described first (with the analyst
 * profile: 18.16 runs scalar subqueries to describe) and a decimal column is refused, naming the
 * column and a cast: 18.16 crashed printing a decimal of 26 integer digits as text, and its
 * described type cannot be trusted to bound the value (`fee * 100000000` stays `Decimal(30, 10)`
 * there while its values grow 8 digits). What a statement computes on the way is `DecimalText`'s
 * to refuse. Analyst results are JSON numbers either way, so the cast loses nothing they kept.
 */
async function refuseDecimals(
  node: ClickHouseNode,
  sql: string,
  settings: ClickHouseSettings,
  signal: AbortSignal,
): Promise<void> {
  // On lines of its own: a trailing semicolon or space cannot reach the closing parenthesis.
  const described = await node.json(`DESCRIBE TABLE (\n${sql.replace(/;\s*$/, '')}\n)`, settings, signal);
  for (const [name, type] of described.data) {
    const decimal = /Decimal\(\d+, *(\d+)\)/.exec(String(type));
    if (!decimal) continue;
    throw new FvError(
      'FV_SQL_REFUSED',
      `column ${JSON.stringify(String(name))} of the statement is a ${decimal[0]}: ClickHouse before 20 can crash printing a decimal whose value outgrew its type; cast it with toFloat64(…)`,
    );
  }
}
