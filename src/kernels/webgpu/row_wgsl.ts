/**
 * WGSL shared by the row programs: one thread per row (a query, a key, or an extra token, with its head),
 * walking that row's own window or inverse window straight from the index math. No workgroup memory and no
 * barriers: exact work for small windows, and programs the software adapter compiles in well under a second
 * (the tiled programs' barriers cost its LLVM JIT tens of seconds per pipeline).
 */
export const ROW_THREADS = 64;
export const NEG = -1.0e30;

/** Constants: the dim classes (multiples of 16) that size the per-thread arrays. */
export function rowConstants(dimClassK: number, dimClassV: number): string {
  return `
const DK = ${dimClassK};
const DV = ${dimClassV};
const NEG = ${NEG.toExponential()};
const NEG_HALF = ${(NEG / 2).toExponential()};
`;
}

export const ROW_WGSL = `
fn rowIndex() -> i32 {
  return workgroupIndex() * ${ROW_THREADS} + i32(localIndex);
}

fn extraValuesOffset() -> i32 {
  return uniforms.batch * uniforms.nExtra * uniforms.headsKv * uniforms.headDim;
}
`;
