/**
 * Walks the neighborhood of each query token for the CPU kernels: for one query it lists the valid
 * neighbors as (key token, rpb offset, window slot), shared by every head of that query.
 */
import {getWindowTables, NAInfo} from './na_info';

export interface NeighborList {
  /** Spatial token index (without batch) of each valid neighbor. */
  keyToken: Int32Array;
  /** Offset into one head's rpb block `[2k0-1, 2k1-1, 2k2-1]` of each valid neighbor. */
  rpbOffset: Int32Array;
  /** Window slot (row-major over the kernel, axis 0 outermost) of each valid neighbor. */
  slot: Int32Array;
  /** Fills the lists for the query token `token`; returns the number of valid neighbors. */
  fill(token: number): number;
}

/**
 * The neighbor list of `info`. `into` may supply the keyToken/rpbOffset arrays (kernelVolume long) to fill,
 * e.g. views of a WebAssembly memory.
 */
export function makeNeighborList(info: NAInfo, into?: {keyToken: Int32Array, rpbOffset: Int32Array}):
    NeighborList {
  const [t0, t1, t2] = getWindowTables(info);
  const [, L1, L2] = info.L3;
  const [, k1, k2] = info.k3;
  const [d0, d1, d2] = info.d3;
  const [, r1, r2] = info.rpb3;
  const keyToken = into?.keyToken ?? new Int32Array(info.kernelVolume);
  const rpbOffset = into?.rpbOffset ?? new Int32Array(info.kernelVolume);
  const slot = new Int32Array(info.kernelVolume);
  const fill = (token: number): number => {
    const x = token % L2;
    const y = ((token - x) / L2) % L1;
    const z = (token - x - y * L2) / (L1 * L2);
    const c0 = t0.count[z], c1 = t1.count[y], c2 = t2.count[x];
    const f0 = t0.first[z], f1 = t1.first[y], f2 = t2.first[x];
    const b0 = t0.rpbBase[z], b1 = t1.rpbBase[y], b2 = t2.rpbBase[x];
    let n = 0;
    for (let a = 0; a < c0; a++) {
      const rowZ = (f0 + a * d0) * L1;
      const rpbZ = (b0 + a) * r1;
      for (let b = 0; b < c1; b++) {
        const rowY = (rowZ + f1 + b * d1) * L2;
        const rpbY = (rpbZ + b1 + b) * r2;
        const slotY = (a * k1 + b) * k2;
        for (let c = 0; c < c2; c++) {
          keyToken[n] = rowY + f2 + c * d2;
          rpbOffset[n] = rpbY + b2 + c;
          slot[n] = slotY + c;
          n++;
        }
      }
    }
    return n;
  };
  return {keyToken, rpbOffset, slot, fill};
}
