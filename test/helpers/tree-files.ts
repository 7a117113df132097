import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** One file's path and its bytes as latin1 text (every byte one character: canaries are searchable). */
export interface FileText {
  readonly path: string;
  readonly text: string;
}

/**
 * Every file under `dirs`, read whole. A server writing beside the read (a ClickHouse merge
 * replacing parts, a log rotated) can remove a file between the walk and its read: the whole walk
 * is then done again, so what is returned is one consistent listing, each file read once it was
 * listed, and no file of the final state is missed.
 */
export function readTree(dirs: readonly string[], attempts = 8): FileText[] {
  for (let attempt = 1; ; attempt++) {
    try {
      const out: FileText[] = [];
      for (const d of dirs) walk(d, out);
      return out;
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT' || attempt >= attempts) throw error;
    }
  }
}

function walk(dir: string, out: FileText[]): void {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    const s = statSync(p);
    if (s.isDirectory()) walk(p, out);
    else if (s.isFile()) out.push({ path: p, text: readFileSync(p).toString('latin1') });
  }
}
