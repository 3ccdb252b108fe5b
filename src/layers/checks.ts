/**
 * Argument checkers of the NA layers, in the style of the ops' checkers (`../ops/checks`): each names the
 * layer, the argument, the rule and the value received.
 */
import {check, showValue} from '../ops/checks';

export function checkArgsObject(owner: string, args: unknown): void {
  check(owner, args != null && typeof args === 'object' && !Array.isArray(args),
        () => `args must be an object with at least numHeads and kernelSize, got ${showValue(args)}`);
}

export function checkPositiveInteger(owner: string, name: string, value: unknown): number {
  check(owner, typeof value === 'number' && Number.isInteger(value) && value >= 1,
        () => `${name} must be a positive integer, got ${showValue(value)}`);
  return value as number;
}

/** A boolean argument with a default. */
export function checkBoolean(owner: string, name: string, value: unknown, defaultValue: boolean): boolean {
  if (value == null) {
    return defaultValue;
  }
  check(owner, typeof value === 'boolean', () => `${name} must be a boolean, got ${showValue(value)}`);
  return value as boolean;
}

/** A dropout rate in [0, 1); `null`/`undefined` mean 0. */
export function checkRate(owner: string, name: string, value: unknown): number {
  if (value == null) {
    return 0;
  }
  check(owner, typeof value === 'number' && Number.isFinite(value) && value >= 0 && value < 1,
        () => `${name} must be a number in [0, 1), got ${showValue(value)}`);
  return value as number;
}

/** The softmax scale: a finite number, or `null`/`undefined` for the default `1/sqrt(headDim)`. */
export function checkLayerScale(owner: string, value: unknown): number | null {
  if (value == null) {
    return null;
  }
  check(owner, typeof value === 'number' && Number.isFinite(value),
        () => `scale must be a finite number (or null for 1/sqrt(headDim)), got ${showValue(value)}`);
  return value as number;
}
