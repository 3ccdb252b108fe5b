// The fused kernels for head dims up to 32 (both precisions).
#include "fna_launch.cuh"

namespace natten {
namespace cuda {
namespace fna {

NATTEN_INSTANTIATE_FNA(32)

}  // namespace fna
}  // namespace cuda
}  // namespace natten
