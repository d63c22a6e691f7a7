/**
 * Go values as text/template sees them over a `map[string]string` (reflect kinds string, int,
 * uint8, float64, bool, map, nil; `undefined` is the invalid reflect.Value), and the error every
 * stage throws. Follows Go's reflect kinds as text/template's exec.go and funcs.go use them.
 */

export class GoTemplateError extends Error {
  constructor(
    readonly template: string,
    why: string,
  ) {
    super(`template ${JSON.stringify(template)}: ${why}`);
    this.name = 'GoTemplateError';
  }
}

/** The value Go's text/template prints for a missing map key. */
export const GO_NO_VALUE = '<no value>';

export type Labels = Readonly<Record<string, string>>;

/** A Go value; `undefined` (see {@link Val}) is Go's invalid reflect.Value (a missing key). */
export type Value =
  | { readonly kind: 'string'; readonly v: string }
  | { readonly kind: 'int'; readonly v: number; readonly type: 'int' | 'uint8' }
  | { readonly kind: 'float'; readonly v: number }
  | { readonly kind: 'bool'; readonly v: boolean }
  | { readonly kind: 'map'; readonly v: Labels; readonly isNil: boolean }
  | { readonly kind: 'nil' };
export type Val = Value | undefined;

export const str = (v: string): Value => ({ kind: 'string', v });
export const int = (v: number, type: 'int' | 'uint8' = 'int'): Value => ({ kind: 'int', v, type });
export const bool = (v: boolean): Value => ({ kind: 'bool', v });
