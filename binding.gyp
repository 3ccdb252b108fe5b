# tfjs-natten's native addons. Each feature keeps its targets in its own .gypi under native/; paths there
# are relative to that file. Built by npm scripts (never by `npm install`): `npm run build:native`.
{
  'includes': [
    'native/src/cpu/natten_cpu.gypi',
    'native/src/tf/natten_tf.gypi',
  ],
}
