// The CPU kernels of the NA TensorFlow ops.
#pragma once

#include <string>

#include "na_tf.h"

namespace natten {
namespace tf {

// Registers them (call once, after register_ops). Returns "" or TensorFlow's error.
std::string register_cpu_kernels();

}  // namespace tf
}  // namespace natten
