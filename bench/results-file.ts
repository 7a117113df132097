// bench/RESULTS.md: `run.ts` writes the file; later benchmarks replace their own marked section.
// Tables are written aligned the way the formatter (`biome check`, part of `npm test`) wants them,
// so a benchmark run never leaves the repository failing its own checks.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RESULTS_FILE = join(fileURLToPath(new URL('../../', import.meta.url)), 'bench', 'RESULTS.md');

/**
 * Writes the whole results file, tables aligned, keeping the marked sections other benchmarks
 * wrote (`<!-- name -->…<!-- /name -->`) until they run again and replace them.
 */
export function writeResults(text: string, file = RESULTS_FILE): void {
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const kept = [...old.matchAll(/<!-- ([\w-]+) -->[\s\S]*?<!-- \/\1 -->/g)]
    .filter((m) => !text.includes(`<!-- ${m[1]} -->`))
    .map((m) => m[0]);
  writeFileSync(file, alignTables(`${[text.trimEnd(), ...kept].join('\n\n')}\n`));
}

/** Replaces the text between `<!-- name -->` and `<!-- /name -->`, or appends it marked so. */
export function spliceSection(name: string, body: string, file = RESULTS_FILE): void {
  const section = `<!-- ${name} -->\n${body.trim()}\n<!-- /${name} -->`;
  const text = readFileSync(file, 'utf8');
  const marked = new RegExp(`<!-- ${name} -->[\\s\\S]*<!-- /${name} -->`);
  writeResults(
    marked.test(text) ? text.replace(marked, () => section) : `${text.trimEnd()}\n\n${section}`,
    file,
  );
}

/** Pads every cell of each pipe table to its column's width; `---:` columns right-aligned. */
export function alignTables(markdown: string): string {
  const lines = markdown.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; ) {
    if (!isRow(lines[i]!)) {
      out.push(lines[i++]!);
      continue;
    }
    const block: string[][] = [];
    while (i < lines.length && isRow(lines[i]!)) block.push(cells(lines[i++]!));
    out.push(...alignBlock(block));
  }
  return out.join('\n');
}

const isRow = (line: string): boolean => line.startsWith('|') && line.trimEnd().endsWith('|');

function cells(line: string): string[] {
  return line
    .trim()
    .slice(1, -1)
    .split('|')
    .map((c) => c.trim());
}

const isDelimiter = (row: string[]): boolean => row.every((c) => /^:?-+:?$/.test(c));

function alignBlock(rows: string[][]): string[] {
  const delimiter = rows.length > 1 && isDelimiter(rows[1]!) ? rows[1]! : undefined;
  if (!delimiter) return rows.map((r) => `| ${r.join(' | ')} |`);
  const columns = Math.max(...rows.map((r) => r.length));
  const right = Array.from({ length: columns }, (_, c) => (delimiter[c] ?? '').endsWith(':'));
  const width = Array.from({ length: columns }, (_, c) =>
    Math.max(3, ...rows.filter((r) => r !== delimiter).map((r) => [...(r[c] ?? '')].length)),
  );
  return rows.map((row) => {
    const padded = width.map((w, c) => {
      if (row === delimiter) {
        return right[c] ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w);
      }
      const text = row[c] ?? '';
      const pad = ' '.repeat(w - [...text].length);
      return right[c] ? pad + text : text + pad;
    });
    return `| ${padded.join(' | ')} |`;
  });
}
