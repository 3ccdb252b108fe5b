/**
 * WGSL shared by the split-op programs (QK, AV and their gradients): one thread per output element, the
 * window of a query along each axis (windowOf, program_util.ts), slots row-major over the window (axis 0 outermost),
 * then the extra tokens.
 */
export const SPLIT_THREADS = 64;

export const SPLIT_WGSL = `
fn elementIndex() -> i32 {
  return workgroupIndex() * ${SPLIT_THREADS} + i32(localIndex);
}

fn slotCoords(slot : i32) -> vec3<i32> {
  let k = uniforms.kernel;
  return vec3<i32>(slot / (k.y * k.z), (slot / k.z) % k.y, slot % k.z);
}

fn slotIndex(t : vec3<i32>) -> i32 {
  return (t.x * uniforms.kernel.y + t.y) * uniforms.kernel.z + t.z;
}

fn numSlots() -> i32 {
  return uniforms.kernelVolume + uniforms.nExtra;
}
`;
