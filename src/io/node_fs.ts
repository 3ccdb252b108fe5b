/**
 * A Node file-system IOHandler: `model.save(nodeFileSystem(dir))` writes `dir/model.json` and
 * `dir/weights.bin` in the tfjs layers-model format, and `tf.loadLayersModel(nodeFileSystem(dir))` reads
 * them back. `fs` and `path` are required lazily, so importing this module in a browser bundle is harmless.
 */
import {io} from '@tensorflow/tfjs-core';

const OWNER = 'nodeFileSystem';
const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';

type NodeFs = typeof import('fs');
type NodePath = typeof import('path');

/** Node's built-in module `name`, through `process.getBuiltinModule` (works in ES modules) or `require`. */
function builtin<T>(name: string): T {
  const proc = typeof process === 'undefined' ? undefined : process;
  if (proc?.versions?.node == null) {
    throw new Error(`${OWNER}: needs Node.js (the ${name} module); in a browser use tf.io.browserFiles or tf.io.http`);
  }
  const getBuiltin = (proc as unknown as {getBuiltinModule?: (id: string) => unknown}).getBuiltinModule;
  if (typeof getBuiltin === 'function') {
    return getBuiltin(name) as T;
  }
  if (typeof require === 'function') {
    return require(name) as T;
  }
  throw new Error(`${OWNER}: cannot load Node's ${name} module from an ES module on Node ${
      proc.versions.node}; use Node >= 20.16 (process.getBuiltinModule) or the CommonJS build`);
}

function nodeModules(): {fs: NodeFs, path: NodePath} {
  return {fs: builtin<NodeFs>('fs'), path: builtin<NodePath>('path')};
}

function toArrayBuffer(buffer: Uint8Array): ArrayBuffer {
  return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength) as ArrayBuffer;
}

/** Saves and loads a tfjs model as `model.json` plus one `weights.bin` in a directory. */
export class NodeFileSystem implements io.IOHandler {
  constructor(readonly dir: string) {
    if (typeof dir !== 'string' || dir.length === 0) {
      throw new Error(`${OWNER}: dir must be a non-empty path string, got ${JSON.stringify(dir)}`);
    }
  }

  async save(artifacts: io.ModelArtifacts): Promise<io.SaveResult> {
    const topology = artifacts.modelTopology;
    if (topology == null || topology instanceof ArrayBuffer) {
      throw new Error(`${OWNER}: can only save a JSON model topology (as layers models have), got ${
          topology == null ? 'none' : 'a binary one'}`);
    }
    const {fs, path} = nodeModules();
    await fs.promises.mkdir(this.dir, {recursive: true});
    const weightData = artifacts.weightData == null ? new ArrayBuffer(0) :
                                                      io.CompositeArrayBuffer.join(artifacts.weightData);
    const manifest: io.WeightsManifestConfig = [{paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? []}];
    const modelJSON: io.ModelJSON = {
      modelTopology: topology,
      weightsManifest: manifest,
      format: artifacts.format,
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy,
    };
    for (const key of ['trainingConfig', 'signature', 'userDefinedMetadata', 'modelInitializer',
                       'initializerSignature'] as const) {
      if (artifacts[key] != null) {
        (modelJSON as unknown as Record<string, unknown>)[key] = artifacts[key];
      }
    }
    await fs.promises.writeFile(path.join(this.dir, WEIGHTS_BIN), new Uint8Array(weightData));
    await fs.promises.writeFile(path.join(this.dir, MODEL_JSON), JSON.stringify(modelJSON));
    return {modelArtifactsInfo: io.getModelArtifactsInfoForJSON(artifacts)};
  }

  async load(): Promise<io.ModelArtifacts> {
    const {fs, path} = nodeModules();
    const jsonPath = path.join(this.dir, MODEL_JSON);
    let text: string;
    try {
      text = await fs.promises.readFile(jsonPath, 'utf8');
    } catch (e) {
      throw new Error(`${OWNER}: cannot read ${jsonPath}: ${(e as Error).message}`);
    }
    let modelJSON: io.ModelJSON;
    try {
      modelJSON = JSON.parse(text) as io.ModelJSON;
    } catch (e) {
      throw new Error(`${OWNER}: ${jsonPath} is not valid JSON: ${(e as Error).message}`);
    }
    if (modelJSON.modelTopology == null) {
      throw new Error(`${OWNER}: ${jsonPath} has no modelTopology`);
    }
    return io.getModelArtifactsForJSON(modelJSON, async (manifest) => {
      const specs: io.WeightsManifestEntry[] = [];
      const buffers: ArrayBuffer[] = [];
      for (const group of manifest) {
        for (const file of group.paths) {
          const filePath = path.resolve(this.dir, file);
          try {
            buffers.push(toArrayBuffer(await fs.promises.readFile(filePath)));
          } catch (e) {
            throw new Error(`${OWNER}: cannot read weights file ${filePath} listed in ${jsonPath}: ${
                (e as Error).message}`);
          }
        }
        specs.push(...group.weights);
      }
      return [specs, io.CompositeArrayBuffer.join(buffers)];
    });
  }
}

/**
 * An IOHandler for Node that saves a model to, and loads it from, a directory (`model.json` + `weights.bin`).
 *
 * ```js
 * await model.save(nodeFileSystem('out/my-model'));
 * const again = await tf.loadLayersModel(nodeFileSystem('out/my-model'));
 * ```
 */
export function nodeFileSystem(dir: string): NodeFileSystem {
  return new NodeFileSystem(dir);
}
