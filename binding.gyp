# tfjs-natten's native addons. Built by npm scripts, never by `npm install` (the package's install script
# builds nothing): `npm run build:native` (natten_cpu, natten_tf) and `npm run build:cuda` (natten_cuda).
# The CPU and TensorFlow targets live in .gypi files under native/ (paths there are relative to them).
{
  'includes': [
    'native/src/cpu/natten_cpu.gypi',
    'native/src/tf/natten_tf.gypi',
  ],
  "targets": [
    {
      # tfjs-natten's CUDA addon (npm run build:cuda; scripts/build-cuda.js sets the targets and the CUDA root).
      # The .cu files go through nvcc by the rule below; the CUDA runtime is linked statically.
      "target_name": "natten_cuda",
      "variables": {
        "natten_cuda_root%": "<!(node scripts/build-cuda.js --print cuda-root)"
      },
      "sources": [
        "native/src/addon/natten_cuda_addon.cc",
        "native/src/addon/natten_addon_tools.cc",
        "native/src/cuda/reference.cu",
        "native/src/cuda/na_split.cu",
        "native/src/cuda/fna_hdim32.cu",
        "native/src/cuda/fna_hdim64.cu",
        "native/src/cuda/fna_hdim128.cu",
        "native/src/cuda/fna_hdim256.cu",
        "native/src/cuda/launch.cu",
        "native/src/cuda/host_api.cu",
        "native/src/cuda/tools.cu"
      ],
      "include_dirs": ["native/include", "native/src/cuda", "<(natten_cuda_root)/include"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-std=c++17"],
      "libraries": ["<(natten_cuda_root)/lib64/libcudart_static.a", "-ldl", "-lrt", "-lpthread"],
      "rules": [
        {
          "rule_name": "natten_nvcc",
          "extension": "cu",
          # Every CUDA header too: make then rebuilds the .cu files when a kernel header changes.
          "inputs": ["<(RULE_INPUT_PATH)", "<!@(node scripts/build-cuda.js --print cuda-headers)"],
          "outputs": ["<(INTERMEDIATE_DIR)/<(RULE_INPUT_ROOT).o"],
          "action": [
            "<(natten_cuda_root)/bin/nvcc", "-std=c++17", "-O3", "-Xcompiler", "-fPIC",
            "<!@(node scripts/build-cuda.js --print nvcc-flags)",
            "-Inative/include", "-Inative/src/cuda", "-c", "<(RULE_INPUT_PATH)", "-o", "<@(_outputs)"
          ],
          "message": "nvcc <(RULE_INPUT_PATH)",
          "process_outputs_as_sources": 1
        }
      ]
    }
  ]
}
