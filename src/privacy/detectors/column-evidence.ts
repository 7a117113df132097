import { type PiiScanner, piiScanner } from './pii-scanner.ts';

/** What a column's sampled values show: the detector with the most hits, and how many. */
export interface ColumnEvidence {
  /** A detector's name. */
  readonly detector: string;
  readonly hits: number;
  readonly sampled: number;
  readonly share: number;
}

/** What sort of text a column holds, judged from a sample. */
export type TextShape = 'empty' | 'categorical' | 'codes' | 'free_text';

// A network prefix (a /24 or wider IPv4 network, a /64 or wider IPv6 one) points at no one.
const NETWORK = /^(?:\d{1,3}\.){3}\d{1,3}\/(\d{1,2})$|^[0-9a-fA-F:]+\/(\d{1,3})$/;
const CODE = /^[\w.:/#@+-]{1,40}$/u;

function isNetworkPrefix(v: string): boolean {
  const m = NETWORK.exec(v.trim());
  if (!m) return false;
  return m[1] !== undefined ? Number(m[1]) <= 24 : Number(m[2]) <= 64;
}

/** Share of a sample a weak detector must match, as in the sync's batches (`WEAK_SHARE`). */
const WEAK_SHARE = 0.1;

/**
 * Profiles one column's sampled values with the sync's own scanner (normalization, column-name
 * evidence included): a strong detector (email, phone, card, …) counts from one hit; a weak one
 * (person names) from one value in ten, as in the sync's batches. Answers the detector
 * with the most hits, never a value.
 *
 * @example
 * columnEvidence('phone', ['14155550132', '14155550199']); // { detector: 'phone', hits: 2, … }
 */
export function columnEvidence(
  column: string,
  values: readonly string[],
  scanner: PiiScanner = piiScanner(),
): ColumnEvidence | undefined {
  const s = scanner.forColumn(column);
  const sample = values.filter((v) => !isNetworkPrefix(v));
  if (sample.length === 0) return undefined;
  const strong = new Map<string, number>();
  const weak = new Map<string, number>();
  for (const v of sample) {
    const hit = s.detect(v);
    if (hit) strong.set(hit, (strong.get(hit) ?? 0) + 1);
    else {
      const w = s.detectWeak(v);
      if (w) weak.set(w, (weak.get(w) ?? 0) + 1);
    }
  }
  const best = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1])[0];
  const of = (detector: string, hits: number): ColumnEvidence => ({
    detector,
    hits,
    sampled: sample.length,
    share: hits / sample.length,
  });
  const st = best(strong);
  if (st) return of(st[0], st[1]);
  const wk = best(weak);
  if (wk && wk[1] >= Math.max(1, sample.length * WEAK_SHARE)) return of(wk[0], wk[1]);
  return undefined;
}

/**
 * Whether sampled text looks like a closed set of labels (`categorical`: values repeat), short
 * codes without spaces (`codes`: SKUs, versions, hashes), or free text (anything else, which may
 * hold anything and so is treated as personal until a person says otherwise).
 */
export function textShape(values: readonly string[]): TextShape {
  if (values.length === 0) return 'empty';
  const distinct = new Set(values).size;
  if (distinct <= 20 || distinct <= values.length / 2) return 'categorical';
  if (values.every((v) => CODE.test(v))) return 'codes';
  return 'free_text';
}
