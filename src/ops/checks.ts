/**
 * Argument checkers of the NA ops: one per argument. Each normalizes its argument and throws an Error
 * whose message starts with the op's name and states the argument, the rule and the value received.
 * Messages are built only on failure.
 */
import {Tensor} from '@tensorflow/tfjs-core';
import type {NADim} from '../core/na_info';

export function fail(op: string, message: string): never {
  throw new Error(`${op}: ${message}`);
}

export function check(op: string, condition: boolean, message: () => string): void {
  if (!condition) {
    fail(op, message());
  }
}

function show(value: unknown): string {
  if (value instanceof Tensor) {
    return `Tensor(${value.dtype}, [${value.shape}])`;
  }
  if (Array.isArray(value)) {
    return `[${value.map(show).join(', ')}]`;
  }
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
export {show as showValue};

/** Turns `number | number[]` into an array of length naDim of integers, or throws. */
function checkIntPerAxis(op: string, name: string, value: unknown, naDim: NADim): number[] {
  const values = Array.isArray(value) ? value : [...Array(naDim)].map(() => value);
  check(op, values.length === naDim,
        () => `${name} must be a number or an array of ${naDim} numbers (one per spatial axis), got ${
            show(value)} of length ${values.length}`);
  values.forEach((v, a) => {
    const at = Array.isArray(value) ? `${name}[${a}]` : name;
    check(op, typeof v === 'number' && Number.isFinite(v) && Number.isInteger(v),
          () => `${at} must be a finite integer, got ${show(v)}`);
  });
  return values as number[];
}

function axisName(name: string, perAxis: boolean, a: number): string {
  return perAxis ? `${name}[${a}]` : name;
}

export function checkKernelSize(op: string, value: unknown, naDim: NADim): number[] {
  check(op, value !== undefined, () => `kernelSize is required (a number >= 2 or an array of ${naDim})`);
  const k = checkIntPerAxis(op, 'kernelSize', value, naDim);
  k.forEach((v, a) => check(op, v >= 2,
                            () => `${axisName('kernelSize', Array.isArray(value), a)} must be >= 2, got ${v}`));
  return k;
}

export function checkStride(op: string, value: unknown, naDim: NADim, kernelSize: number[]): number[] {
  const s = checkIntPerAxis(op, 'stride', value === undefined ? 1 : value, naDim);
  s.forEach((v, a) => check(op, v >= 1 && v <= kernelSize[a],
                            () => `${axisName('stride', Array.isArray(value), a)} must be in [1, kernelSize[${
                                a}]=${kernelSize[a]}], got ${v}`));
  return s;
}

export function checkDilation(op: string, value: unknown, naDim: NADim): number[] {
  const d = checkIntPerAxis(op, 'dilation', value === undefined ? 1 : value, naDim);
  d.forEach((v, a) => check(op, v >= 1,
                            () => `${axisName('dilation', Array.isArray(value), a)} must be >= 1, got ${v}`));
  return d;
}

export function checkIsCausal(op: string, value: unknown, naDim: NADim): boolean[] {
  const raw = value === undefined ? false : value;
  const values = Array.isArray(raw) ? raw : [...Array(naDim)].map(() => raw);
  check(op, values.length === naDim,
        () => `isCausal must be a boolean or an array of ${naDim} booleans (one per spatial axis), got ${
            show(raw)} of length ${values.length}`);
  values.forEach((v, a) => check(op, typeof v === 'boolean',
                                 () => `${axisName('isCausal', Array.isArray(raw), a)} must be a boolean, got ${
                                     show(v)}`));
  return values as boolean[];
}

export function checkScale(op: string, value: unknown, headDim: number): number {
  if (value === undefined) {
    return 1 / Math.sqrt(headDim);
  }
  check(op, typeof value === 'number' && Number.isFinite(value),
        () => `scale must be a finite number, got ${show(value)}`);
  return value as number;
}

export function checkReturnLse(op: string, value: unknown): boolean {
  check(op, value === undefined || typeof value === 'boolean',
        () => `returnLse must be a boolean, got ${show(value)}`);
  return value === true;
}

export function checkAllowTf32(op: string, value: unknown): boolean {
  check(op, value === undefined || typeof value === 'boolean',
        () => `allowTf32 must be a boolean, got ${show(value)}`);
  return value !== false;
}

/** Checks that a tensor argument is a float32 Tensor of the given rank. */
export function checkTensor(op: string, name: string, x: unknown, rank: number, layout: string): Tensor {
  check(op, x instanceof Tensor, () => `${name} must be a tf.Tensor, got ${show(x)}`);
  const t = x as Tensor;
  check(op, !t.isDisposed, () => `${name} has been disposed`);
  check(op, t.dtype === 'float32', () => `${name} must be float32, got ${t.dtype}`);
  check(op, t.rank === rank,
        () => `${name} must have rank ${rank} (${layout}), got rank ${t.rank} with shape [${t.shape}]`);
  t.shape.forEach((n, a) => check(op, n > 0, () => `${name} has an empty axis ${a}: shape [${t.shape}]`));
  return t;
}

/** The product of kernel size and dilation may not exceed the axis length. */
export function checkWindowFits(op: string, spatial: number[], kernelSize: number[], dilation: number[]): void {
  spatial.forEach((L, a) => check(op, kernelSize[a] * dilation[a] <= L,
                                  () => `kernelSize[${a}]=${kernelSize[a]} with dilation[${a}]=${
                                      dilation[a]} needs spatial axis ${a} >= ${
                                      kernelSize[a] * dilation[a]}, got ${L}`));
}

/** Checks that `other` has the same size as `ref` along the given axes. */
export function checkSameAxes(op: string, refName: string, ref: Tensor, name: string, other: Tensor,
                              axes: number[], what: string): void {
  check(op, axes.every(a => ref.shape[a] === other.shape[a]),
        () => `${name} shape [${other.shape}] must match ${refName} shape [${ref.shape}] in ${what}`);
}

/** Rejects option names the ops do not know (a typo would otherwise be silently ignored). */
export function checkOptionNames(op: string, options: object, known: readonly string[]): void {
  for (const name of Object.keys(options)) {
    check(op, known.includes(name), () => `unknown option ${show(name)}; expected one of ${known.join(', ')}`);
  }
}
