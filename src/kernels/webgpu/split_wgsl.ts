/**
 * WGSL shared by the split-op programs (QK, AV and their gradients): one thread per output element, the
 * window of a query along each axis from getAxisWindow, slots row-major over the window (axis 0 outermost),
 * then the extra tokens.
 */
export const SPLIT_THREADS = 64;

export const SPLIT_WGSL = `
fn elementIndex() -> i32 {
  return workgroupIndex() * ${SPLIT_THREADS} + i32(localIndex);
}

struct Window3 {
  first : vec3<i32>,
  count : vec3<i32>,
  rpbBase : vec3<i32>,
};

fn windowOf(token : i32) -> Window3 {
  let i = coordsOf(token);
  var w : Window3;
  for (var a = 0; a < 3; a++) {
    let aw = getAxisWindow(i[a], uniforms.lengths[a], uniforms.kernel[a], uniforms.stride[a], uniforms.dilation[a],
                           axisCausal(a));
    w.first[a] = aw.first;
    w.count[a] = aw.count;
    w.rpbBase[a] = aw.rpbBase;
  }
  return w;
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
