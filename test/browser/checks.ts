/** Names of the checks the browser page runs (suite_page.ts), known to the jest side before the page runs. */
import type {GoldenCase} from '../golden_cases';

export const goldenCheck = (c: GoldenCase) => `NATTEN golden ${c.name}: forward and backward`;

export const LAYER_CHECKS = {
  fit: 'layer model: fit steps lower the loss',
  indexedDB: 'layer model: saves to IndexedDB and loads back with the same weights and predictions',
};
