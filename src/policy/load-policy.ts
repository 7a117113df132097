import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, type YAMLMap } from 'yaml';
import { FvError } from '../errors/index.ts';
import {
  ACTIONS,
  CLASS_RULES,
  CLASSES,
  type ColumnAction,
  type ColumnClass,
  ON_DETECT,
  type OnDetect,
} from './classes.ts';
import {
  type ColumnRule,
  type CustomDetector,
  DEFAULT_K,
  type Policy,
  type Position,
  type TablePolicy,
} from './policy.ts';
import { loadPrivacyModel } from './privacy-model.ts';
import type { Problem } from './problem.ts';
import { resolveTransform, type Transform } from './transforms/index.ts';

const IDENT = /^[A-Za-z_][A-Za-z0-9_$]*$/;
const TOP_KEYS = [
  'version',
  'reviewed',
  'k',
  'privacy_unit',
  'schema',
  'on_detect',
  'custom_detectors',
  'privacy',
  'tables',
];
const TABLE_KEYS = ['primary_key', 'cursor', 'soft_delete', 'retention', 'on_detect', 'columns'];
const COLUMN_KEYS = ['class', 'action', 'domain', 'transform', 'aggregate_only'];

export interface LoadResult {
  /** Present when the file parsed into a policy; problems may still hold errors. */
  readonly policy?: Policy;
  readonly problems: readonly Problem[];
}

class Collector {
  readonly problems: Problem[] = [];
  constructor(
    readonly file: string,
    private readonly lines: LineCounter,
  ) {}

  pos(node: Node | null | undefined): Position {
    const offset = node?.range?.[0] ?? 0;
    return this.lines.linePos(offset);
  }

  error(code: Problem['code'], path: string, node: Node | null | undefined, message: string): void {
    const { line, col } = this.pos(node);
    this.problems.push({ code, severity: 'error', path, file: this.file, line, col, message });
  }
}

function entries(map: YAMLMap): Array<[string, Node | null, Node]> {
  return map.items.map((pair) => {
    const key = pair.key as Node;
    return [String(isScalar(key) ? key.value : key), (pair.value as Node | null) ?? null, key];
  });
}

function scalar(node: Node | null): unknown {
  return node && isScalar(node) ? node.value : undefined;
}

function checkKeys(c: Collector, map: YAMLMap, allowed: readonly string[], path: string): void {
  for (const [key, , keyNode] of entries(map)) {
    if (!allowed.includes(key)) {
      c.error(
        'FV_POLICY_UNKNOWN_KEY',
        `${path}${key}`,
        keyNode,
        `unknown key; allowed here: ${allowed.join(', ')}`,
      );
    }
  }
}

function get(map: YAMLMap, key: string): Node | null {
  return (map.get(key, true) as Node | undefined) ?? null;
}

function loadColumn(c: Collector, name: string, node: Node | null, path: string): ColumnRule | undefined {
  if (!node || !isMap(node)) {
    c.error('FV_POLICY_SHAPE', path, node, 'a column is a map such as { class: attribute }');
    return undefined;
  }
  checkKeys(c, node, COLUMN_KEYS, `${path}.`);
  const cls = scalar(get(node, 'class'));
  if (!CLASSES.includes(cls as ColumnClass)) {
    c.error(
      'FV_POLICY_CLASS',
      `${path}.class`,
      get(node, 'class') ?? node,
      `class must be one of ${CLASSES.join(', ')}`,
    );
    return undefined;
  }
  const klass = cls as ColumnClass;
  const rule = CLASS_RULES[klass];
  const transformNode = get(node, 'transform');
  let transform: Transform | undefined;
  if (transformNode) {
    const resolved = resolveTransform(transformNode.toJSON());
    if (typeof resolved === 'string') {
      c.error('FV_POLICY_TRANSFORM', `${path}.transform`, transformNode, resolved);
    } else if (!resolved.classes.includes(klass)) {
      c.error(
        'FV_POLICY_ACTION_NOT_ALLOWED',
        `${path}.transform`,
        transformNode,
        `transform ${resolved.name} is not allowed for class ${klass}; it serves ${resolved.classes.join(', ')}`,
      );
    } else {
      transform = resolved;
    }
  }
  const actionNode = get(node, 'action');
  const written = scalar(actionNode);
  if (written !== undefined && !ACTIONS.includes(written as ColumnAction)) {
    c.error(
      'FV_POLICY_ACTION',
      `${path}.action`,
      actionNode,
      `action must be one of ${rule.allowed.join(', ')}`,
    );
    return undefined;
  }
  const action: ColumnAction =
    (written as ColumnAction | undefined) ?? (transformNode ? 'generalize' : rule.defaultAction);
  if (!rule.allowed.includes(action)) {
    c.error(
      'FV_POLICY_ACTION_NOT_ALLOWED',
      `${path}.action`,
      actionNode ?? node,
      `action ${action} is not allowed for class ${klass}; allowed: ${rule.allowed.join(', ')}`,
    );
  }
  if (action === 'generalize' && !transformNode) {
    c.error('FV_POLICY_TRANSFORM', `${path}.transform`, node, 'action generalize needs a transform');
  }
  if (transformNode && action !== 'generalize') {
    c.error(
      'FV_POLICY_TRANSFORM',
      `${path}.transform`,
      transformNode,
      `a transform only applies with generalize`,
    );
  }
  const aggregateOnly = scalar(get(node, 'aggregate_only')) === true;
  if (klass === 'sensitive' && action === 'keep' && !aggregateOnly) {
    c.error(
      'FV_POLICY_ACTION_NOT_ALLOWED',
      `${path}.action`,
      actionNode ?? node,
      'a sensitive column is kept only with aggregate_only: true',
    );
  }
  const domainNode = get(node, 'domain');
  const domain = scalar(domainNode);
  if (action === 'pseudonymize' && (typeof domain !== 'string' || !IDENT.test(domain))) {
    c.error(
      'FV_POLICY_DOMAIN',
      `${path}.domain`,
      domainNode ?? node,
      'a pseudonymized identifier needs a domain name',
    );
  }
  if (domainNode && klass !== 'identifier') {
    c.error('FV_POLICY_DOMAIN', `${path}.domain`, domainNode, 'only identifier columns have a domain');
  }
  return {
    name,
    class: klass,
    action,
    ...(typeof domain === 'string' ? { domain } : {}),
    ...(transform ? { transform } : {}),
    aggregateOnly,
    pos: c.pos(node),
  };
}

function columnName(c: Collector, node: Node | null, path: string): string | undefined {
  const v = scalar(node);
  if (typeof v === 'string' && v.length > 0) return v;
  c.error('FV_POLICY_SHAPE', path, node, 'expected a column name');
  return undefined;
}

function loadTable(
  c: Collector,
  name: string,
  node: Node | null,
  defaultOnDetect: OnDetect,
): TablePolicy | undefined {
  const path = `tables.${name}`;
  if (!node || !isMap(node)) {
    c.error('FV_POLICY_SHAPE', path, node, 'a table is a map with primary_key and columns');
    return undefined;
  }
  checkKeys(c, node, TABLE_KEYS, `${path}.`);
  const columnsNode = get(node, 'columns');
  const columns = new Map<string, ColumnRule>();
  if (!columnsNode || !isMap(columnsNode)) {
    c.error(
      'FV_POLICY_SHAPE',
      `${path}.columns`,
      columnsNode ?? node,
      'columns is a map of column name to rule',
    );
  } else {
    for (const [col, value, keyNode] of entries(columnsNode)) {
      if (columns.has(col))
        c.error('FV_POLICY_DUPLICATE', `${path}.columns.${col}`, keyNode, 'column listed twice');
      const rule = loadColumn(c, col, value, `${path}.columns.${col}`);
      if (rule) columns.set(col, rule);
    }
  }
  const pkNode = get(node, 'primary_key');
  const primaryKey: string[] = [];
  if (pkNode && isSeq(pkNode)) {
    for (const item of pkNode.items) {
      const n = columnName(c, item as Node, `${path}.primary_key`);
      if (n) primaryKey.push(n);
    }
  } else {
    const n = columnName(c, pkNode ?? node, `${path}.primary_key`);
    if (n) primaryKey.push(n);
  }
  for (const pk of primaryKey) {
    const rule = columns.get(pk);
    if (rule && rule.action !== 'pseudonymize' && rule.action !== 'keep') {
      c.error(
        'FV_POLICY_KEY',
        `${path}.primary_key`,
        pkNode ?? node,
        `primary key column ${pk} must be pseudonymized or kept (it is ${rule.action})`,
      );
    }
  }
  const cursorNode = get(node, 'cursor');
  const cursor = cursorNode ? columnName(c, cursorNode, `${path}.cursor`) : undefined;
  const softNode = get(node, 'soft_delete');
  const softDelete = softNode ? columnName(c, softNode, `${path}.soft_delete`) : undefined;
  for (const [key, col, n] of [
    ['cursor', cursor, cursorNode],
    ['soft_delete', softDelete, softNode],
  ] as const) {
    if (col && !columns.has(col))
      c.error('FV_POLICY_KEY', `${path}.${key}`, n, `column ${col} is not in columns`);
    if (col && columns.get(col)?.class === 'secret') {
      c.error('FV_POLICY_KEY', `${path}.${key}`, n, `column ${col} is a secret and is never read`);
    }
  }
  for (const pk of primaryKey) {
    if (!columns.has(pk))
      c.error('FV_POLICY_KEY', `${path}.primary_key`, pkNode, `column ${pk} is not in columns`);
  }
  const retentionNode = get(node, 'retention');
  let retention: { column: string; days: number } | undefined;
  if (retentionNode) {
    const r = retentionNode.toJSON() as { column?: unknown; days?: unknown } | null;
    const col = typeof r?.column === 'string' ? r.column : undefined;
    const days = r?.days;
    const rule = col ? columns.get(col) : undefined;
    if (!col || typeof days !== 'number' || !Number.isInteger(days) || days < 1) {
      c.error(
        'FV_POLICY_SHAPE',
        `${path}.retention`,
        retentionNode,
        'retention is { column: <time column>, days: <whole days> }',
      );
    } else if (rule?.class !== 'time' || (rule.action !== 'keep' && rule.action !== 'generalize')) {
      c.error(
        'FV_POLICY_KEY',
        `${path}.retention.column`,
        retentionNode,
        `retention needs a stored time column; ${col} is not one`,
      );
    } else retention = { column: col, days };
  }
  const onDetectNode = get(node, 'on_detect');
  const onDetect = scalar(onDetectNode) ?? defaultOnDetect;
  if (!ON_DETECT.includes(onDetect as OnDetect)) {
    c.error('FV_POLICY_SHAPE', `${path}.on_detect`, onDetectNode, `on_detect is ${ON_DETECT.join(' or ')}`);
  }
  return {
    name,
    primaryKey,
    ...(cursor ? { cursor } : {}),
    ...(softDelete ? { softDelete } : {}),
    ...(retention ? { retention } : {}),
    onDetect: onDetect as OnDetect,
    columns,
    pos: c.pos(node),
  };
}

function loadCustomDetectors(c: Collector, node: Node | null): CustomDetector[] {
  if (!node) return [];
  if (!isMap(node)) {
    c.error(
      'FV_POLICY_SHAPE',
      'custom_detectors',
      node,
      'custom_detectors maps a name to a regular expression',
    );
    return [];
  }
  const out: CustomDetector[] = [];
  for (const [name, value] of entries(node)) {
    const source = scalar(value);
    try {
      if (typeof source !== 'string' || source.length === 0) throw new Error('empty');
      out.push({ name, pattern: new RegExp(source, 'u') });
    } catch {
      c.error('FV_POLICY_DETECTOR', `custom_detectors.${name}`, value, 'not a valid regular expression');
    }
  }
  return out;
}

/**
 * Parses a policy document and returns the policy with every problem found, each with its file
 * position. Never throws for bad content.
 *
 * @example
 * const { policy, problems } = parsePolicy(text, 'fleetvault.policy.yaml');
 */
export function parsePolicy(text: string, file: string): LoadResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const c = new Collector(file, lines);
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const { line, col } = lines.linePos(e.pos[0]);
      const message = e.message.split('\n')[0] ?? 'YAML syntax error';
      c.problems.push({ code: 'FV_POLICY_SYNTAX', severity: 'error', path: '', file, line, col, message });
    }
    return { problems: c.problems };
  }
  const root = doc.contents as Node | null;
  if (!root || !isMap(root)) {
    c.error('FV_POLICY_SHAPE', '', root, 'the policy is a map with version, k and tables');
    return { problems: c.problems };
  }
  checkKeys(c, root, TOP_KEYS, '');
  if (scalar(get(root, 'version')) !== 1)
    c.error('FV_POLICY_VERSION', 'version', get(root, 'version') ?? root, 'version must be 1');
  const reviewed = scalar(get(root, 'reviewed'));
  if (reviewed !== undefined && typeof reviewed !== 'boolean') {
    c.error('FV_POLICY_SHAPE', 'reviewed', get(root, 'reviewed'), 'reviewed is true or false');
  }
  const kNode = get(root, 'k');
  const k = scalar(kNode) ?? DEFAULT_K;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 2)
    c.error('FV_POLICY_K', 'k', kNode, 'k is an integer of at least 2');
  const unitNode = get(root, 'privacy_unit');
  const privacyUnit = scalar(unitNode) ?? 'user';
  if (typeof privacyUnit !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(privacyUnit))
    c.error(
      'FV_POLICY_SHAPE',
      'privacy_unit',
      unitNode,
      'privacy_unit names the pseudonym domain k counts, e.g. user',
    );
  const schemaNode = get(root, 'schema');
  const schema = scalar(schemaNode) ?? 'public';
  if (typeof schema !== 'string' || schema.length === 0)
    c.error('FV_POLICY_SHAPE', 'schema', schemaNode, 'schema is a name');
  const onDetectNode = get(root, 'on_detect');
  const onDetect = scalar(onDetectNode) ?? 'block';
  if (!ON_DETECT.includes(onDetect as OnDetect)) {
    c.error('FV_POLICY_SHAPE', 'on_detect', onDetectNode, `on_detect is ${ON_DETECT.join(' or ')}`);
  }
  const customDetectors = loadCustomDetectors(c, get(root, 'custom_detectors'));
  const privacyNode = get(root, 'privacy');
  const privacy = loadPrivacyModel(privacyNode?.toJSON(), (path, message) =>
    c.error('FV_POLICY_PRIVACY', path, privacyNode, message),
  );
  const tablesNode = get(root, 'tables');
  const tables = new Map<string, TablePolicy>();
  if (!tablesNode || !isMap(tablesNode) || tablesNode.items.length === 0) {
    c.error(
      'FV_POLICY_SHAPE',
      'tables',
      tablesNode ?? root,
      'tables maps at least one table name to its rules',
    );
  } else {
    for (const [name, value] of entries(tablesNode)) {
      const table = loadTable(c, name, value, onDetect as OnDetect);
      if (table) tables.set(name, table);
    }
  }
  const policy: Policy = {
    file,
    version: 1,
    reviewed: reviewed === true,
    k: k as number,
    privacyUnit: String(privacyUnit),
    schema: String(schema),
    onDetect: onDetect as OnDetect,
    customDetectors,
    ...(privacy?.model === 'differential_privacy' ? { privacy } : {}),
    tables,
  };
  return { policy, problems: c.problems };
}

/** Reads and parses a policy file; a missing or unreadable file is one clear error. */
export function readPolicyFile(file: string): LoadResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
    throw new FvError('FV_POLICY_MISSING', `policy file ${file} ${reason}`);
  }
  return parsePolicy(text, file);
}
