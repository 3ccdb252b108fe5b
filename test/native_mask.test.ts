/**
 * native/include/natten/na_mask.h (the index math of the CUDA kernels) against src/core/na_mask.ts on every
 * (L, k, s, d, causal) with L < 40: the test compiles native/test/na_mask_dump.cc for the host with g++
 * (or $CXX) and runs it, runs test/na_mask_stream.ts (the same functions of src/core, in the same order and
 * with the same FNV-1a folding of the tile-level helpers) in a child process, and compares the two int32
 * streams value for value.
 */
import {execFileSync} from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '..');

function ints(bytes: Buffer): Int32Array {
  return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

/** Compiles and runs the host dump; returns its int32 stream. */
function nativeStream(): Int32Array {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'natten-mask-'));
  try {
    const exe = path.join(dir, 'na_mask_dump');
    execFileSync(process.env.CXX ?? 'g++', ['-std=c++17', '-O2', '-Wall', '-Wextra', '-Werror',
                                            `-I${path.join(ROOT, 'native', 'include')}`,
                                            path.join(ROOT, 'native', 'test', 'na_mask_dump.cc'), '-o', exe]);
    return ints(execFileSync(exe, {maxBuffer: 64 << 20}));
  } finally {
    fs.rmSync(dir, {recursive: true, force: true});
  }
}

function typescript(args: string[]): Buffer {
  return execFileSync(process.execPath, ['--require', require.resolve('tsx/cjs'),
                                         path.join(__dirname, 'na_mask_stream.ts'), ...args],
                      {maxBuffer: 64 << 20});
}

describe('native/include/natten/na_mask.h against src/core/na_mask.ts', () => {
  it('every function agrees on every (L, k, s, d, causal) with L < 40', () => {
    const native = nativeStream();
    const ts = ints(typescript([]));
    let mismatch = -1;
    for (let i = 0; i < Math.min(native.length, ts.length); i++) {
      if (native[i] !== ts[i]) {
        mismatch = i;
        break;
      }
    }
    if (mismatch >= 0) {
      const what = typescript(['--describe', String(mismatch)]).toString();
      throw new Error(`${what} is ${native[mismatch]} in C++, ${ts[mismatch]} in TypeScript`);
    }
    expect(native.length).toBe(ts.length);
    expect(native.length).toBeGreaterThan(3000000);
  });
});
