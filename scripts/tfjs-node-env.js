// Where `npm run setup:tfjs-node` puts things: the versions it pins, the cache outside the clone, the TensorFlow
// headers and libraries it extracts from the tensorflow-cpu wheel, and the built tfjs-node-gpu binding.
// One place for these names: the set-up script, the tests, the bench, the demo and native builds (e.g. TensorFlow
// custom ops) read them from here.
//
//   node scripts/tfjs-node-env.js           prints the paths as shell exports (eval "$(node scripts/tfjs-node-env.js)")
//   node scripts/tfjs-node-env.js --json    prints them as JSON
//   require('./scripts/tfjs-node-env').tensorflowPaths()
const fs = require('fs');
const os = require('os');
const path = require('path');

const TFJS_NODE_PACKAGE = '@tensorflow/tfjs-node-gpu';
const TFJS_NODE_VERSION = '4.22.0';
const TF_WHEEL = 'tensorflow-cpu';
const TF_VERSION = '2.21.0';
/** The sonames the binding (and anything linking TensorFlow's C API) records, and the link names gyp uses. */
const TF_LIBRARIES = {
  'libtensorflow_cc.so.2': ['libtensorflow_cc.so.2', 'libtensorflow.so.2', 'libtensorflow.so'],
  'libtensorflow_framework.so.2': ['libtensorflow_framework.so.2', 'libtensorflow_framework.so'],
};
const PROJECT_ROOT = path.resolve(__dirname, '..');
const SETUP_COMMAND = 'npm run setup:tfjs-node';

/** The cache shared by every clone: $TFJS_NATTEN_CACHE, else $XDG_CACHE_HOME/tfjs-natten, else ~/.cache/tfjs-natten. */
function cacheDir() {
  if (process.env.TFJS_NATTEN_CACHE) {
    return path.resolve(process.env.TFJS_NATTEN_CACHE);
  }
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'tfjs-natten');
}

/**
 * TensorFlow as extracted from the wheel: `include/` (every header the wheel ships: the C API, the framework,
 * absl, Eigen, protobuf) and `lib/` (libtensorflow_cc.so.2 with the C and eager C API, libtensorflow_framework.so.2,
 * and the link names -ltensorflow / -ltensorflow_framework find). `ready` says whether the extraction finished.
 */
function tensorflowPaths() {
  const root = path.join(cacheDir(), `${TF_WHEEL}-${TF_VERSION}`);
  const lib = path.join(root, 'lib');
  return {
    version: TF_VERSION,
    root,
    include: path.join(root, 'include'),
    lib,
    libtensorflowCc: path.join(lib, 'libtensorflow_cc.so.2'),
    libtensorflowFramework: path.join(lib, 'libtensorflow_framework.so.2'),
    ready: fs.existsSync(path.join(root, '.complete')),
  };
}

/** The binding built for this package version, TensorFlow version, N-API version and platform. */
function cachedBindingPath(napiVersion) {
  const key = `${TFJS_NODE_PACKAGE.replace('/', '+')}-${TFJS_NODE_VERSION}+${TF_WHEEL}-${TF_VERSION}+napi-v${
      napiVersion}+${process.platform}-${process.arch}`;
  return path.join(cacheDir(), 'bindings', key, 'tfjs_binding.node');
}

/** The installed tfjs-node-gpu folder in this project's node_modules. */
function packageDir() {
  return path.join(PROJECT_ROOT, 'node_modules', ...TFJS_NODE_PACKAGE.split('/'));
}

/**
 * Loads tfjs-node-gpu as the set-up left it, which registers the `tensorflow` backend (and makes it the active
 * one), and returns the package. Throws an Error saying to run the set-up when the package is missing, of another
 * version, or its binding does not load. TensorFlow's INFO and WARNING lines are quieted unless asked for.
 */
function loadTfjsNode(packageName = TFJS_NODE_PACKAGE) {
  if (process.env.TF_CPP_MIN_LOG_LEVEL == null) {
    process.env.TF_CPP_MIN_LOG_LEVEL = '2';  // read by TensorFlow when it loads
  }
  try {
    const {version} = require(`${packageName}/package.json`);
    if (packageName === TFJS_NODE_PACKAGE && version !== TFJS_NODE_VERSION) {
      throw new Error(`version ${version} is installed, the set-up pins ${TFJS_NODE_VERSION}`);
    }
    return require(packageName);  // a name in a variable: bundlers leave it to run time
  } catch (e) {
    throw new Error(`the real tensorflow backend is not set up: ${packageName} cannot be loaded (${
        String(e && e.message).split('\n')[0]}). Run \`${SETUP_COMMAND}\` (again after every \`npm ci\` or ` +
        '`npm install`, which remove it).');
  }
}

module.exports = {
  TFJS_NODE_PACKAGE, TFJS_NODE_VERSION, TF_WHEEL, TF_VERSION, TF_LIBRARIES, PROJECT_ROOT, SETUP_COMMAND, cacheDir,
  tensorflowPaths, cachedBindingPath, packageDir, loadTfjsNode,
};

if (require.main === module) {
  const tf = tensorflowPaths();
  const vars = {
    TFJS_NATTEN_CACHE: cacheDir(),
    TFJS_NATTEN_TF_VERSION: tf.version,
    TFJS_NATTEN_TF_INCLUDE: tf.include,
    TFJS_NATTEN_TF_LIB: tf.lib,
    TFJS_NATTEN_TF_FRAMEWORK: tf.libtensorflowFramework,
    TFJS_NATTEN_TF_CC: tf.libtensorflowCc,
  };
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify({...vars, ready: tf.ready}, null, 2));
  } else {
    for (const [k, v] of Object.entries(vars)) {
      console.log(`export ${k}='${v}'`);
    }
  }
  if (!tf.ready) {
    console.error(`tfjs-node-env: TensorFlow ${tf.version} is not extracted yet under ${tf.root}; run \`${SETUP_COMMAND}\``);
    process.exitCode = 1;
  }
}
