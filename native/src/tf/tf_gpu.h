// The GPU kernels of the NA TensorFlow ops (built with NATTEN_TF_GPU only; see tf_gpu.cc and README.md).
#pragma once

#include <string>

#include "na_tf.h"

namespace natten {
namespace tf {

// Registers them for TensorFlow's GPU device (call once, after register_ops). Returns "" or TensorFlow's
// error.
std::string register_gpu_kernels();

}  // namespace tf
}  // namespace natten
