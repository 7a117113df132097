import type { ColumnClass, Value, ValueKind } from '../classes.ts';

/**
 * A named generalization. It knows which classes and value kinds may use it, what kind it
 * produces, how to apply itself and how to describe itself for reports; the pipeline never
 * switches on a transform's name.
 */
export interface Transform {
  readonly name: string;
  readonly classes: readonly ColumnClass[];
  accepts(kind: ValueKind): boolean;
  outputKind(kind: ValueKind): ValueKind;
  /** `null` stays `null`. Returns `null` for a value the transform cannot generalize. */
  apply(value: Value, kind: ValueKind): Value;
  describe(): string;
  /**
   * How much detail it keeps, for the two-person rule: within one family, a transform whose
   * levels are all lower or equal keeps no more detail (day after hour, /16 after /24).
   */
  readonly detail: { readonly family: string; readonly levels: readonly number[] };
}

/** Builds a transform from the parameter written in the policy, or says what is wrong with it. */
export interface TransformFactory {
  readonly name: string;
  /** Short names accepted as a bare string, e.g. `day` for `{ truncate: day }`. */
  readonly aliases: readonly string[];
  create(param: unknown, alias?: string): Transform | string;
}
