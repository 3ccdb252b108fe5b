# The native CPU kernels (natten_cpu_kernels, a static library shared by both addons) and the natten_cpu
# addon. natten_tf (../tf/natten_tf.gypi) links the same library. Paths are relative to this file.
{
  'variables': {
    'natten_napi_include': '<!(node -p "require(\'path\').dirname(require.resolve(\'node-addon-api/package.json\'))")',
  },
  'target_defaults': {
    'include_dirs': ['../../include'],
    'cflags': ['-O3', '-fPIC', '-Wall', '-Wextra'],
    'cflags_cc': ['-O3', '-fPIC', '-Wall', '-Wextra'],
    # The kernels throw (std::bad_alloc) and the addons turn exceptions into JavaScript errors.
    'cflags!': ['-fno-exceptions'],
    'cflags_cc!': ['-fno-exceptions'],
    'xcode_settings': {'GCC_ENABLE_CPP_EXCEPTIONS': 'YES'},
  },
  'targets': [
    {
      # The AVX2 row kernels alone: the only code compiled with -mavx2 -mfma (x86-64); na_cpu.cc calls
      # them only when the CPU has both. Elsewhere the file compiles to a stub returning null.
      'target_name': 'natten_cpu_avx2',
      'type': 'static_library',
      'sources': ['kernels_avx2.cc'],
      'conditions': [
        ['target_arch=="x64" or target_arch=="ia32"', {
          'cflags': ['-mavx2', '-mfma'],
          'cflags_cc': ['-mavx2', '-mfma'],
          'xcode_settings': {'OTHER_CPLUSPLUSFLAGS': ['-mavx2', '-mfma']},
        }],
      ],
    },
    {
      # The same kernels with AVX-512F and AVX-512VL too (32 vector registers for the 256-bit code); na_cpu.cc
      # calls them only when the CPU and the OS support both.
      'target_name': 'natten_cpu_avx512',
      'type': 'static_library',
      'sources': ['kernels_avx512.cc'],
      'conditions': [
        ['target_arch=="x64" or target_arch=="ia32"', {
          'cflags': ['-mavx2', '-mfma', '-mavx512f', '-mavx512vl'],
          'cflags_cc': ['-mavx2', '-mfma', '-mavx512f', '-mavx512vl'],
          'xcode_settings': {'OTHER_CPLUSPLUSFLAGS': ['-mavx2', '-mfma', '-mavx512f', '-mavx512vl']},
        }],
      ],
    },
    {
      # The same again with the blocked backward on 512-bit rows (simd::Avx512); called where kernels_avx512 is.
      'target_name': 'natten_cpu_avx512zmm',
      'type': 'static_library',
      'sources': ['kernels_avx512zmm.cc'],
      'conditions': [
        ['target_arch=="x64" or target_arch=="ia32"', {
          'cflags': ['-mavx2', '-mfma', '-mavx512f', '-mavx512vl'],
          'cflags_cc': ['-mavx2', '-mfma', '-mavx512f', '-mavx512vl'],
          'xcode_settings': {'OTHER_CPLUSPLUSFLAGS': ['-mavx2', '-mfma', '-mavx512f', '-mavx512vl']},
        }],
      ],
    },
    {
      'target_name': 'natten_cpu_kernels',
      'type': 'static_library',
      'sources': ['geometry.cc', 'thread_pool.cc', 'na_cpu.cc', 'kernels_portable.cc', 'clock.cc'],
      'dependencies': ['natten_cpu_avx2', 'natten_cpu_avx512', 'natten_cpu_avx512zmm'],
      'link_settings': {'libraries': ['-pthread']},
    },
    {
      'target_name': 'natten_cpu',
      'sources': ['addon.cc'],
      'dependencies': ['natten_cpu_kernels'],
      'include_dirs': ['<(natten_napi_include)'],
      'defines': ['NAPI_VERSION=8', 'NAPI_CPP_EXCEPTIONS'],
    },
  ],
}
