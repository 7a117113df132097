#!/usr/bin/env node
// `node scripts/code-figures.mjs [--top N]`: the size figures of src/ a redesign is judged by —
// the largest functions (lines, tests apart), the largest files, and the cycles between folders.
// Reads the sources with the TypeScript compiler's parser; runs nothing and writes nothing.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src');
const topAt = process.argv.indexOf('--top');
const TOP = topAt > 0 ? Number(process.argv[topAt + 1]) : 5;

const files = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return name.endsWith('.ts') ? [path] : [];
  });

const lineCount = (text) => text.split('\n').length - (text.endsWith('\n') ? 1 : 0);

/** A function's name as a reader finds it: its own name, or the variable, property or method it is. */
function nameOf(node) {
  if (node.name) return node.name.getText();
  const parent = node.parent;
  if (parent && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent))) return parent.name.getText();
  if (parent && ts.isCallExpression(parent)) return `(argument of ${parent.expression.getText().slice(0, 40)})`;
  return '(anonymous)';
}

const functions = [];
const sizes = [];
for (const path of files(SRC)) {
  const text = readFileSync(path, 'utf8');
  const file = relative(ROOT, path);
  const isTest = path.endsWith('.test.ts');
  sizes.push({ file, lines: lineCount(text), isTest });
  if (isTest) continue;
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const visit = (node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line + 1;
      functions.push({ where: `${file}:${start}`, name: nameOf(node), lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
}

/** folder → the folders its files import; the same reading as src/folder-cycles.test.ts. */
const folderOf = (path) => {
  const parts = relative(SRC, path).split(sep);
  return parts.length > 1 ? parts[0] : undefined;
};
const graph = new Map();
for (const path of files(SRC)) {
  const from = folderOf(path);
  if (!from) continue;
  const edges = graph.get(from) ?? new Set();
  graph.set(from, edges);
  for (const m of readFileSync(path, 'utf8').matchAll(/(?:from|import\()\s*'(\.[^']+)'/g)) {
    const to = folderOf(resolve(dirname(path), m[1]));
    if (to && to !== from) edges.add(to);
  }
}
const cycles = new Set();
const walk = (node, path) => {
  const at = path.indexOf(node);
  if (at >= 0) {
    const loop = path.slice(at);
    const start = loop.indexOf([...loop].sort()[0]);
    const turned = [...loop.slice(start), ...loop.slice(0, start)];
    cycles.add([...turned, turned[0]].join(' -> '));
    return;
  }
  for (const next of graph.get(node) ?? []) walk(next, [...path, node]);
};
for (const node of graph.keys()) walk(node, []);

const code = sizes.filter((s) => !s.isTest).sort((a, b) => b.lines - a.lines);
const median = code[Math.floor(code.length / 2)]?.lines;
console.log(`src/: ${code.length} source files (median ${median} lines), ${sizes.length - code.length} test files`);
console.log(`\nlargest functions (lines):`);
for (const f of functions.sort((a, b) => b.lines - a.lines).slice(0, TOP)) {
  console.log(`  ${String(f.lines).padStart(5)}  ${f.name}  ${f.where}`);
}
console.log(`\nlargest source files (lines):`);
for (const s of code.slice(0, TOP)) console.log(`  ${String(s.lines).padStart(5)}  ${s.file}`);
console.log(`\nfolder cycles: ${cycles.size}${[...cycles].map((c) => `\n  ${c}`).join('')}`);
