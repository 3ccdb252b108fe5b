// The fused kernels for head dims up to 64 (both precisions).
#include "fna_launch.cuh"

namespace natten {
namespace cuda {
namespace fna {

NATTEN_INSTANTIATE_FNA(64)

}  // namespace fna
}  // namespace cuda
}  // namespace natten
