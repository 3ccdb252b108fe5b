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
      # The CUDA code, compiled once by the nvcc rule below for both addons that link it: natten_cuda (npm run
      # build:cuda) and natten_tf's GPU kernels (-Dnatten_tf_gpu=1), which take only the objects they call (not
      # the host API or the tools). Each fna_hdim file takes nvcc minutes: compiled per addon, they were most of
      # CI's build time. Built only as a dependency.
      "target_name": "natten_cuda_kernels",
      "type": "static_library",
      "variables": {
        "natten_cuda_root%": "<!(node scripts/build-cuda.js --print cuda-root)"
      },
      "sources": [
        "native/src/cuda/launch.cu",
        "native/src/cuda/reference.cu",
        "native/src/cuda/na_split.cu",
        "native/src/cuda/fna_hdim32.cu",
        "native/src/cuda/fna_hdim64.cu",
        "native/src/cuda/fna_hdim128.cu",
        "native/src/cuda/fna_hdim256.cu",
        "native/src/cuda/host_api.cu",
        "native/src/cuda/tools.cu"
      ],
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
    },
    {
      # tfjs-natten's CUDA addon (npm run build:cuda; scripts/build-cuda.js sets the targets and the CUDA root):
      # the library above, whose host API and tools only it calls, and the CUDA runtime, linked statically.
      "target_name": "natten_cuda",
      "variables": {
        "natten_cuda_root%": "<!(node scripts/build-cuda.js --print cuda-root)"
      },
      "sources": [
        "native/src/addon/natten_cuda_addon.cc",
        "native/src/addon/natten_addon_tools.cc"
      ],
      "include_dirs": ["native/include", "native/src/cuda", "<(natten_cuda_root)/include"],
      "dependencies": [
        "natten_cuda_kernels",
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "cflags_cc": ["-std=c++17"],
      "libraries": ["<(natten_cuda_root)/lib64/libcudart_static.a", "-ldl", "-lrt", "-lpthread"]
    }
  ]
}
