// Host stand-ins for the CUDA keywords used by kernels/wos.cu, so the kernel can be compiled
// and run by a C++ compiler on the CPU (tests/kernel_on_host.rs).
#include <cmath>
#include <algorithm>
#define __device__
#define __forceinline__ inline
#define __global__
#define __restrict__
struct D3 { unsigned x, y, z; };
static D3 blockIdx, threadIdx, blockDim;
using std::min;
