import { type ContributionBounds, clampOf, type PartKind } from './contribution-bounds.ts';
import type { MetricDefinition } from './metric-definition.ts';

/**
 * The per-unit step's columns a compiler collects while it walks a measure: partial aggregates
 * (each summed later, each with the kind contribution bounding needs) and extra keys. Both
 * engines' compilers collect them alike and name them in their own dialect.
 */
export class PerUnitParts {
  /** The partial aggregates' SQL, in order; the same SQL is one part. */
  readonly parts: string[] = [];
  readonly kinds: PartKind[] = [];
  /** Extra keys' SQL, in order (distinct values of a non-unit column). */
  readonly keys: string[] = [];

  /** `name(i)` is the name of the i-th part where the compiler refers to it. */
  constructor(
    private readonly def: MetricDefinition,
    private readonly bounds: ContributionBounds | undefined,
    private readonly name: (i: number) => string,
  ) {}

  /** A partial aggregate's column: added once, then named. */
  readonly part = (sql: string, kind: PartKind = { kind: 'count' }): string => {
    if (!this.parts.includes(sql)) {
      this.parts.push(sql);
      this.kinds.push(kind);
    }
    return this.name(this.parts.indexOf(sql));
  };

  /** A summed column's part kind: its clamp bounds under differential privacy. */
  sumKind(ref: string): PartKind {
    const c = this.bounds ? clampOf(this.def, ref, this.bounds) : undefined;
    return c ? { kind: 'sum', low: c[0], high: c[1] } : { kind: 'sum', low: 0, high: 0 };
  }

  /** The parts with their kinds, as contribution bounding takes them. */
  shape(): Array<{ name: string; kind: PartKind }> {
    return this.kinds.map((kind, i) => ({ name: this.name(i), kind }));
  }
}
