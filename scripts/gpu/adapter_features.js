// Prints what the WebGPU adapter offers (Dawn on the Vulkan driver named by VK_ICD_FILENAMES): its info with the
// subgroup sizes, its features, and whether a device with subgroups compiles a shader that uses them.
//   NATTEN_DAWN_NODE=path/to/dawn.node [NATTEN_DAWN_FLAGS=backend=vulkan] node scripts/gpu/adapter_features.js
// (run-steps.sh: the wfeatures step). tfjs-backend-webgpu 4.22 requests no subgroups for its device, and its
// shader prefix comes before a program's code, where WGSL wants `enable subgroups;`.
const {create, globals} = require(process.env.NATTEN_DAWN_NODE);
Object.assign(globalThis, globals);

async function main() {
  const flags = (process.env.NATTEN_DAWN_FLAGS ?? '').split(',').filter(f => f !== '');
  const adapter = await create(flags).requestAdapter();
  if (adapter == null) {
    throw new Error('adapter_features: no WebGPU adapter');
  }
  const info = adapter.info ?? {};
  console.log('adapter', JSON.stringify({vendor: info.vendor, architecture: info.architecture, device: info.device,
                                         description: info.description, subgroupMinSize: info.subgroupMinSize,
                                         subgroupMaxSize: info.subgroupMaxSize}));
  console.log('features', [...adapter.features].sort().join(' '));
  const wanted = ['subgroups', 'chromium-experimental-subgroup-matrix', 'shader-f16', 'timestamp-query']
                     .filter(f => adapter.features.has(f));
  const device = await adapter.requestDevice({requiredFeatures: wanted});
  console.log('device features', [...device.features].sort().join(' '));
  if (device.features.has('subgroups')) {
    const module = device.createShaderModule({code: `enable subgroups;
@group(0) @binding(0) var<storage, read_write> a : array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g : vec3<u32>) {
  a[g.x] = subgroupAdd(a[g.x]) + subgroupShuffle(a[g.x], 0u);
}`});
    const messages = (await module.getCompilationInfo()).messages;
    console.log('a subgroup shader compiles:', messages.length === 0 ? 'yes' : messages.map(m => m.message).join(' | '));
  }
  device.destroy();
}

main().then(() => process.exit(0), e => {
  console.error(e);
  process.exit(1);
});
