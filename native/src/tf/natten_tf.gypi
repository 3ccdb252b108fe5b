# natten_tf: NA as TensorFlow ops. Defined only when the build is given TensorFlow's C headers and the folder
# of libtensorflow_framework.so.2 (-Dnatten_tf_include=DIR -Dnatten_tf_lib=DIR; scripts/build-native.js finds
# them). Linked against libtensorflow_framework.so.2 alone and without an rpath: it resolves against the
# TensorFlow that tfjs-node loaded, and fails to load where there is none.
# -Dnatten_tf_gpu=1 also compiles the GPU kernels (tf_gpu.cc and issue 8's CUDA kernels; off by default,
# never run: see README.md here). Paths are relative to this file.
{
  'variables': {
    'natten_tf_include%': '',
    'natten_tf_lib%': '',
    'natten_tf_gpu%': 0,
  },
  'conditions': [
    ['natten_tf_include!=""', {
      'targets': [
        {
          'target_name': 'natten_tf',
          'sources': ['addon.cc', 'na_tf.cc', 'tf_cpu.cc'],
          'dependencies': ['natten_cpu_kernels'],
          'include_dirs': ['<(natten_napi_include)', '<(natten_tf_include)', '../../include'],
          'defines': ['NAPI_VERSION=8', 'NAPI_CPP_EXCEPTIONS'],
          'cflags': ['-O3', '-fPIC', '-Wall', '-Wextra'],
          'cflags_cc': ['-O3', '-fPIC', '-Wall', '-Wextra'],
          'cflags!': ['-fno-exceptions'],
          'cflags_cc!': ['-fno-exceptions'],
          'libraries': ['-L<(natten_tf_lib)', '-l:libtensorflow_framework.so.2'],
          'conditions': [
            # The GPU kernels: tf_gpu.cc and issue 8's CUDA kernels behind natten/cuda/api.h, from the library
            # natten_cuda links too (binding.gyp's natten_cuda_kernels: compiled once by nvcc for the
            # architectures scripts/build-cuda.js names, NATTEN_CUDA_ARCHS), CUDA runtime static.
            ['natten_tf_gpu==1', {
              'variables': {
                'natten_cuda_root%': '<!(node scripts/build-cuda.js --print cuda-root)',
              },
              'sources': ['tf_gpu.cc'],
              'dependencies': ['natten_cuda_kernels'],
              'defines': ['NATTEN_TF_GPU'],
              'include_dirs': ['<(natten_cuda_root)/include'],
              'libraries': ['<(natten_cuda_root)/lib64/libcudart_static.a', '-ldl', '-lrt'],
            }],
          ],
        },
      ],
    }],
  ],
}
