#pragma once
// Host-side checks around a kernel launch: the sizes must fit the launch
// configuration, and a failed launch becomes an exception naming the kernel, since
// the caller would otherwise only see it at the next synchronizing call.
#include <cuda_runtime_api.h>

#include <climits>
#include <cstddef>
#include <stdexcept>
#include <string>

namespace waypoint::kernels::cuda::detail {

// gridDim.x can be up to 2^31 - 1, and the kernels index within a row with int.
inline int checked_int(std::size_t value, const char* kernel, const char* what) {
  if (value > static_cast<std::size_t>(INT_MAX)) {
    throw std::invalid_argument(std::string(kernel) + ": " + what + " " + std::to_string(value) +
                                " is too large");
  }
  return static_cast<int>(value);
}

inline void check_launch(const char* kernel) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string(kernel) + " launch failed: " + cudaGetErrorString(err));
  }
}

}  // namespace waypoint::kernels::cuda::detail
