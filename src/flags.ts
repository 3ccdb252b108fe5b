/** tfjs-natten's environment flags. */
import {env} from '@tensorflow/tfjs-core';

/**
 * When true, the NA ops ignore registered kernels and run the version composed of tfjs primitive ops
 * (the path every backend without NA kernels takes). For tests and comparisons.
 */
export const NATTEN_FORCE_COMPOSED = 'NATTEN_FORCE_COMPOSED';

let registered = false;

export function registerFlags(): void {
  if (!registered) {
    registered = true;
    env().registerFlag(NATTEN_FORCE_COMPOSED, () => false);
  }
}

export function isComposedForced(): boolean {
  registerFlags();
  return env().getBool(NATTEN_FORCE_COMPOSED);
}
