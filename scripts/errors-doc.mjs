// Rewrites the table in docs/ERRORS.md from the built catalog (dist/src/errors/catalog.js), in
// the catalog's order: `npm run build && node scripts/errors-doc.mjs`. src/errors/catalog.test.ts
// fails when the two differ.
import { readFileSync, writeFileSync } from 'node:fs';

const { ERROR_CATALOG } = await import(new URL('../dist/src/errors/catalog.js', import.meta.url).href);
const file = new URL('../docs/ERRORS.md', import.meta.url);
const doc = readFileSync(file, 'utf8');
const rows = Object.entries(ERROR_CATALOG).map(([code, v]) => `| \`${code}\` | ${v.exit} | ${v.http} | ${v.solve} |`);
const lines = doc.split('\n');
const start = lines.findIndex((l) => l.startsWith('| code | exit | HTTP |'));
let end = start + 2;
while (end < lines.length && lines[end].startsWith('| `FV_')) end++;
lines.splice(start + 2, end - start - 2, ...rows);
writeFileSync(file, lines.join('\n'));
