/**
 * Why CUDA is (un)available, in words: from the addon's load result and the driver's answer. Pure, so the
 * tests can give it every case (no addon for this platform, no driver, a driver older than the runtime,
 * no device, another initialization failure).
 */
import type {AddonLoad} from '../../native/addon_loader';

/** What the addon reports about the driver and device (native/src/cuda/host_api.cu, device_status). */
export interface CudaDeviceStatus {
  driverLoaded: boolean;
  driverError: string;
  /** cudaGetDeviceCount's error code and its name and message. */
  code: number;
  codeName: string;
  codeMessage: string;
  deviceCount: number;
  /** CUDA versions as the runtime reports them (13000 for 13.0; 0 when unknown). */
  driverVersion: number;
  runtimeVersion: number;
  name: string;
  computeCapability: string;
  totalMemory: number;
  multiprocessors: number;
  /** The host emulator of the tests, not a GPU. */
  emulated: boolean;
}

export interface CudaStatus {
  available: boolean;
  /** Why CUDA is off (null when available). */
  reason: string | null;
  /** Device 0 as the driver reports it (null when no addon loaded). */
  device: CudaDeviceStatus | null;
  /** The addon file that was loaded (null when none). */
  addonPath: string | null;
}

function version(v: number): string {
  return v > 0 ? `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}` : 'unknown';
}

export function cudaStatusFrom(load: AddonLoad<{deviceStatus(): CudaDeviceStatus}>): CudaStatus {
  if (load.addon == null) {
    return {available: false, reason: `no CUDA addon: ${load.reason}`, device: null, addonPath: null};
  }
  let device: CudaDeviceStatus;
  try {
    device = load.addon.deviceStatus();
  } catch (e) {
    return {available: false, reason: `the CUDA addon ${load.path} failed to query the device: ${
                e instanceof Error ? e.message : String(e)}`, device: null, addonPath: load.path};
  }
  const off = (reason: string): CudaStatus => ({available: false, reason, device, addonPath: load.path});
  if (!device.driverLoaded) {
    return off(`no NVIDIA driver: ${device.driverError}`);
  }
  if (device.codeName === 'cudaErrorInsufficientDriver') {
    return off(`the NVIDIA driver (CUDA ${version(device.driverVersion)}) is older than the addon's CUDA runtime (${
        version(device.runtimeVersion)}); update the driver`);
  }
  if (device.codeName === 'cudaErrorNoDevice' || (device.code === 0 && device.deviceCount === 0)) {
    return off('no CUDA device: the driver found none');
  }
  if (device.code !== 0) {
    return off(`CUDA initialization failed: ${device.codeName} (${device.codeMessage})`);
  }
  return {available: true, reason: null, device, addonPath: load.path};
}
