#pragma once
// The public headers speak kernels::bf16 so that they need no CUDA headers; the
// kernels compute on __nv_bfloat16. They are the same 16 bits.
#include <cuda_bf16.h>

#include "kernels/bf16.hpp"

namespace waypoint::kernels::cuda::detail {

static_assert(sizeof(bf16) == sizeof(__nv_bfloat16) && alignof(bf16) == alignof(__nv_bfloat16));

inline __nv_bfloat16* device_view(bf16* p) { return reinterpret_cast<__nv_bfloat16*>(p); }
inline const __nv_bfloat16* device_view(const bf16* p) {
  return reinterpret_cast<const __nv_bfloat16*>(p);
}

}  // namespace waypoint::kernels::cuda::detail
