// bench/RESULTS.md: `run.ts` writes the file; later benchmarks replace their own marked section.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RESULTS_FILE = join(fileURLToPath(new URL('../../', import.meta.url)), 'bench', 'RESULTS.md');

/** Replaces the text between `<!-- name -->` and `<!-- /name -->`, or appends it marked so. */
export function spliceSection(name: string, body: string): void {
  const section = `<!-- ${name} -->\n${body.trim()}\n<!-- /${name} -->`;
  const text = readFileSync(RESULTS_FILE, 'utf8');
  const marked = new RegExp(`<!-- ${name} -->[\\s\\S]*<!-- /${name} -->`);
  writeFileSync(
    RESULTS_FILE,
    marked.test(text) ? text.replace(marked, () => section) : `${text.trimEnd()}\n\n${section}\n`,
  );
}
