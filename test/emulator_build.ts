/**
 * Builds the natten_cuda addon against the host emulator (native/test/emu): the same kernel, launch, host
 * and Node-API sources as the real addon, compiled by g++ with NATTEN_EMULATION, so tests without a GPU run
 * the CUDA kernels' logic (every thread a fiber; the TF32 MMA, cp.async and shuffles emulated). The build
 * goes to a folder under the OS temp dir named after a hash of the sources, and is reused while they are
 * unchanged.
 */
import {execFile} from 'child_process';
import {createHash} from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {promisify} from 'util';

const ROOT = path.resolve(__dirname, '..');
const CUDA_SOURCES = ['reference', 'na_split', 'launch', 'host_api', 'tools', 'fna_hdim32', 'fna_hdim64', 'fna_hdim128',
                      'fna_hdim256'].map(n => path.join(ROOT, 'native', 'src', 'cuda', `${n}.cu`));
const CXX_SOURCES = [
  path.join(ROOT, 'native', 'src', 'addon', 'natten_cuda_addon.cc'),
  path.join(ROOT, 'native', 'src', 'addon', 'natten_addon_tools.cc'),
  path.join(ROOT, 'native', 'test', 'emu', 'natten_emu.cc'),
];

function allSources(dir: string): string[] {
  return fs.readdirSync(dir, {withFileTypes: true}).flatMap(e => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? allSources(p) : [p];
  });
}

/** Node's headers: next to the running node, else where node-gyp keeps them. */
function nodeIncludeDir(): string {
  const local = path.resolve(path.dirname(process.execPath), '..', 'include', 'node');
  if (fs.existsSync(path.join(local, 'node_api.h'))) {
    return local;
  }
  const gyp = path.join(os.homedir(), '.cache', 'node-gyp', process.versions.node, 'include', 'node');
  if (fs.existsSync(path.join(gyp, 'node_api.h'))) {
    return gyp;
  }
  throw new Error(`no Node headers (node_api.h) next to ${process.execPath} or in ${gyp}`);
}

/** Compiles (in parallel, `jobs` at a time) and links the emulated addon; returns the path of the .node file. */
export async function buildEmulatedAddon(jobs = Math.max(2, os.cpus().length)): Promise<string> {
  const hash = createHash('sha256');
  for (const f of allSources(path.join(ROOT, 'native')).sort()) {
    hash.update(f).update(fs.readFileSync(f));
  }
  const dir = path.join(os.tmpdir(), `natten-cuda-emu-${hash.digest('hex').slice(0, 16)}`);
  const addon = path.join(dir, 'natten_cuda_emu.node');
  if (fs.existsSync(addon)) {
    return addon;
  }
  fs.mkdirSync(dir, {recursive: true});
  const cxx = process.env.CXX ?? 'g++';
  const flags = ['-std=c++17', '-O1', '-fPIC', '-Wall', '-Wextra', '-Werror', '-Wno-unknown-pragmas',
                 '-DNATTEN_EMULATION', '-DNAPI_CPP_EXCEPTIONS', '-DNAPI_VERSION=8', `-I${nodeIncludeDir()}`,
                 `-I${path.dirname(require.resolve('node-addon-api/package.json'))}`,
                 `-I${path.join(ROOT, 'native', 'include')}`, `-I${path.join(ROOT, 'native', 'test', 'emu')}`,
                 `-I${path.join(ROOT, 'native', 'src', 'cuda')}`];
  const units = [...CUDA_SOURCES.map(f => ({f, lang: ['-x', 'c++']})), ...CXX_SOURCES.map(f => ({f, lang: []}))];
  const objects = units.map(u => path.join(dir, `${path.basename(u.f)}.o`));
  const run = promisify(execFile);
  let next = 0;
  const worker = async () => {
    while (next < units.length) {
      const i = next++;
      await run(cxx, [...flags, ...units[i].lang, '-c', units[i].f, '-o', objects[i]], {maxBuffer: 16 << 20});
    }
  };
  await Promise.all(Array.from({length: jobs}, worker));
  const tmp = `${addon}.${process.pid}.tmp`;
  await run(cxx, ['-shared', '-o', tmp, ...objects]);
  fs.renameSync(tmp, addon);
  return addon;
}
