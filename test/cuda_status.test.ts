/**
 * The CUDA addon without a GPU: the reasons CUDA is off (no addon for this platform, no NVIDIA driver, a
 * driver older than the runtime, no device, another failure), what this machine's addon reports, enableCuda
 * refusing with the reason, the host backends falling back to the CPU kernels, and the environment
 * variables that disable the addon or name its file. (On a machine with a device, the assertions that need
 * CUDA to be off check the device instead.)
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import {cudaStatus, disableCuda, enableCuda, na2d} from '../src/index';
import {addonCandidates} from '../src/native/addon_loader';
import {CudaDeviceStatus, cudaStatusFrom} from '../src/kernels/cuda/status';
import {CPU, TENSORFLOW, TENSORFLOW_HOST, useBackend} from './harness';
import {problem} from './problems';
import {refForward} from './reference';
import {expectClose, makeInputs} from './util';

const device = (over: Partial<CudaDeviceStatus>): CudaDeviceStatus => ({
  driverLoaded: true, driverError: '', code: 0, codeName: 'cudaSuccess', codeMessage: 'no error', deviceCount: 1,
  driverVersion: 13000, runtimeVersion: 13000, name: 'NVIDIA H200', computeCapability: '9.0', totalMemory: 1,
  multiprocessors: 132, emulated: false, ...over,
});
const loaded = (d: CudaDeviceStatus) => ({addon: {deviceStatus: () => d}, path: '/x/natten_cuda.node', reason: null});

describe('why CUDA is off', () => {
  it('no addon for this platform: the loader says where it looked', () => {
    const s = cudaStatusFrom({addon: null, path: null,
                              reason: 'no natten_cuda.node for darwin-arm64 (looked in /p/prebuilds/darwin-arm64/natten_cuda.node, /p/build/Release/natten_cuda.node)'});
    expect(s.available).toBe(false);
    expect(s.reason).toBe('no CUDA addon: no natten_cuda.node for darwin-arm64 (looked in /p/prebuilds/darwin-arm64/' +
                          'natten_cuda.node, /p/build/Release/natten_cuda.node)');
  });

  it('no NVIDIA driver: the dynamic loader could not open libcuda', () => {
    const s = cudaStatusFrom(loaded(device({driverLoaded: false, driverError: 'libcuda.so.1: cannot open shared object file'})));
    expect(s.reason).toBe('no NVIDIA driver: libcuda.so.1: cannot open shared object file');
    expect(s.addonPath).toBe('/x/natten_cuda.node');
  });

  it('a driver older than the runtime, with both versions', () => {
    const s = cudaStatusFrom(loaded(device({code: 35, codeName: 'cudaErrorInsufficientDriver', deviceCount: 0,
                                            driverVersion: 12020, runtimeVersion: 13000})));
    expect(s.reason).toBe("the NVIDIA driver (CUDA 12.2) is older than the addon's CUDA runtime (13.0); update the driver");
  });

  it('no device, whether the runtime says so or counts none', () => {
    expect(cudaStatusFrom(loaded(device({code: 100, codeName: 'cudaErrorNoDevice', deviceCount: 0}))).reason)
        .toBe('no CUDA device: the driver found none');
    expect(cudaStatusFrom(loaded(device({deviceCount: 0}))).reason).toBe('no CUDA device: the driver found none');
  });

  it('any other failure, by name and message; a usable device has no reason', () => {
    expect(cudaStatusFrom(loaded(device({code: 3, codeName: 'cudaErrorInitializationError',
                                         codeMessage: 'initialization error', deviceCount: 0}))).reason)
        .toBe('CUDA initialization failed: cudaErrorInitializationError (initialization error)');
    const ok = cudaStatusFrom(loaded(device({})));
    expect([ok.available, ok.reason, ok.device!.name]).toEqual([true, null, 'NVIDIA H200']);
  });

  it('an addon whose device query throws', () => {
    const s = cudaStatusFrom({addon: {deviceStatus: () => { throw new Error('boom'); }}, path: '/x/a.node', reason: null});
    expect(s.reason).toBe('the CUDA addon /x/a.node failed to query the device: boom');
  });
});

describe('this machine', () => {
  const status = cudaStatus();
  const built = addonCandidates('natten_cuda').some(p => fs.existsSync(p));

  it('loads the addon built by npm run build:cuda when there is one, and says why CUDA is off or what runs', () => {
    // CI builds the addon first (NATTEN_REQUIRE_CUDA_ADDON=1): there it must load.
    if (process.env.NATTEN_REQUIRE_CUDA_ADDON === '1') {
      expect(built).toBe(true);
      expect(status.addonPath).not.toBeNull();
    }
    if (status.available) {
      expect(status.device!.deviceCount).toBeGreaterThan(0);
    } else if (built) {
      expect(status.reason).toMatch(/^(no NVIDIA driver: |no CUDA device: |the NVIDIA driver \(CUDA )/);
    } else {
      expect(status.reason).toMatch(/^no CUDA addon: no natten_cuda\.node for \w+-\w+ \(looked in .*prebuilds/);
    }
  });

  it('enableCuda names the reason when CUDA is off, and rejects backends that are not host backends', () => {
    if (status.available) {
      enableCuda({backend: 'cpu'});
      disableCuda({backend: 'cpu'});
    } else {
      expect(() => enableCuda({backend: 'cpu'})).toThrow(`enableCuda: CUDA is unavailable: ${status.reason}`);
    }
    expect(() => enableCuda({backend: 'webgl'}))
        .toThrow(/^enableCuda: backend must be one of cpu, tensorflow .*got "webgl"$/);
    expect(() => enableCuda(undefined as unknown as {backend: string})).toThrow(/^enableCuda: backend must be/);
    expect(() => disableCuda({backend: 'wasm'})).toThrow(/^disableCuda: backend must be one of cpu, tensorflow/);
  });

  it('without CUDA the cpu and tensorflow backends run the CPU kernels (the results match the reference)', async () => {
    const p = problem({spatial: [6, 7], kernelSize: [3, 4], dilation: [2, 1], isCausal: [false, true], hasRpb: true,
                       nExtra: 1});
    for (const b of [CPU, TENSORFLOW, TENSORFLOW_HOST]) {
      await useBackend(b);
      if (!status.available) {
        expect(() => enableCuda({backend: b.backend})).toThrow(/CUDA is unavailable/);
      }
      const x = makeInputs(p, 3);
      const out = na2d(x.q, x.k, x.v, x.options) as tf.Tensor;
      expectClose(out.dataSync(), refForward(p, x.values).out, 1e-4, `${b.name} output`);
      tf.dispose(out);
      x.dispose();
    }
    await useBackend(CPU);
  });
});

describe('the environment variables of the CUDA addon', () => {
  // Each case reloads the CUDA module (its status is computed once per load).
  const statusWith = (env: Record<string, string>) => {
    const saved = {...process.env};
    Object.assign(process.env, env);
    try {
      let s: ReturnType<typeof cudaStatus> | undefined;
      jest.isolateModules(() => {
        s = require('../src/kernels/cuda/addon').getCudaStatus();
      });
      return s!;
    } finally {
      for (const k of Object.keys(env)) {
        if (saved[k] === undefined) {
          delete process.env[k];
        } else {
          process.env[k] = saved[k];
        }
      }
    }
  };

  it('NATTEN_CUDA_DISABLE keeps the addon unloaded and says so', () => {
    expect(statusWith({NATTEN_CUDA_DISABLE: '1'}).reason)
        .toBe('no CUDA addon: disabled by the environment variable NATTEN_CUDA_DISABLE=1');
  });

  it('NATTEN_CUDA_ADDON names the file to load, and a missing one is reported', () => {
    const missing = path.join(__dirname, 'no-such-addon.node');
    expect(statusWith({NATTEN_CUDA_ADDON: missing}).reason)
        .toBe(`no CUDA addon: ${missing} (from NATTEN_CUDA_ADDON) does not exist`);
  });
});
