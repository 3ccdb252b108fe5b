/**
 * WebGPU in Node for the tests and the benchmark: Dawn (the `webgpu` package's dawn.node) on a Vulkan
 * driver, set up before `@tensorflow/tfjs-backend-webgpu` is loaded (the backend registers itself only
 * when `navigator.gpu` exists at import time).
 *
 * Where things come from (environment variables override the defaults):
 * - `NATTEN_DAWN_NODE`: path to dawn.node (default: the `webgpu` package's build for this platform);
 * - `NATTEN_DAWN_FLAGS`: comma-separated Dawn toggles for `create()`, e.g. `backend=vulkan`;
 * - `VK_ICD_FILENAMES`: the Vulkan driver (default: lavapipe from `scripts/webgpu-driver.sh`, in .webgpu/);
 * - `NATTEN_VULKAN_LOADER`: a libvulkan.so.1 to load first (default: the one in .webgpu/ when present), for
 *   systems without a Vulkan loader of their own.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const REPO = path.resolve(__dirname, '..');
const DRIVER = path.join(REPO, '.webgpu');
const LOADER = path.join(DRIVER, 'root/usr/lib/x86_64-linux-gnu/libvulkan.so.1');
/** glibc's RTLD_NODELETE (Node does not export it): keeps the loader mapped for Dawn's own dlopen. */
const RTLD_NODELETE = 0x1000;

let state: {ok: boolean, reason: string} | null = null;

function dawnPath(): string {
  if (process.env.NATTEN_DAWN_NODE) {
    return process.env.NATTEN_DAWN_NODE;
  }
  const pkg = path.dirname(require.resolve('webgpu/package.json'));
  const arch = process.platform === 'darwin' ? 'universal' : process.arch;
  return path.join(pkg, 'dist', `${process.platform}-${arch}`, 'dawn.node');
}

/**
 * Loads a Vulkan loader by absolute path so that Dawn's `dlopen("libvulkan.so.1")` finds it already mapped
 * (glibc matches loaded libraries by soname). process.dlopen then throws "did not self-register": expected.
 */
function preloadVulkan(): void {
  const loader = process.env.NATTEN_VULKAN_LOADER ?? (fs.existsSync(LOADER) ? LOADER : null);
  if (loader == null) {
    return;
  }
  const {RTLD_NOW, RTLD_GLOBAL} = os.constants.dlopen as Record<string, number>;
  try {
    process.dlopen({exports: {}} as NodeJS.Module, loader, RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE);
  } catch (e) {
    if (!/self-register/.test(String(e))) {
      throw e;
    }
  }
}

/**
 * Makes `navigator.gpu` (Dawn) and registers tfjs's webgpu backend. Returns whether it worked and why not.
 * Call it before anything imports `@tensorflow/tfjs-backend-webgpu`.
 */
export function setupNodeWebGPU(): {ok: boolean, reason: string} {
  if (state != null) {
    return state;
  }
  try {
    // Effective only outside jest (whose process.env is a copy): jest.config.js applies it for the tests.
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    require('./webgpu_env').applyWebGPUEnv();
    preloadVulkan();
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const {create, globals} = require(dawnPath());
    Object.assign(globalThis, globals);
    const flags = (process.env.NATTEN_DAWN_FLAGS ?? '').split(',').filter(f => f !== '');
    const g = globalThis as unknown as {navigator?: Record<string, unknown>};
    g.navigator = {...(g.navigator ?? {}), gpu: create(flags), userAgent: 'node'};
    require('@tensorflow/tfjs-backend-webgpu');
    state = {ok: true, reason: ''};
  } catch (e) {
    state = {ok: false, reason: e instanceof Error ? e.message : String(e)};
  }
  return state;
}
