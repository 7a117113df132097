/** Recognizes one kind of personal or secret value inside a text. */
export interface Detector {
  readonly name: string;
  /** True when the text holds a value of this kind anywhere in it. */
  test(text: string): boolean;
}
