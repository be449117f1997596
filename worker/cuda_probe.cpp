// probe_cuda() for device_selection.hpp. Compiled into every build: with the CUDA
// backend (WAYPOINT_HAVE_CUDA) it asks the runtime; without it, it reports so and
// the binary needs no CUDA library at all.
#include "worker/device_selection.hpp"

#ifdef WAYPOINT_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace waypoint {

CudaAvailability probe_cuda() {
  CudaAvailability cuda;
#ifdef WAYPOINT_HAVE_CUDA
  cuda.built = true;
#ifdef WAYPOINT_HAVE_NCCL
  cuda.nccl = true;
#endif
  int count = 0;
  // Without a driver or a device this fails (cudaErrorNoDevice,
  // cudaErrorInsufficientDriver): that is "no device", not a crash.
  if (const cudaError_t err = cudaGetDeviceCount(&count); err != cudaSuccess) {
    (void)cudaGetLastError();  // clear it, so it does not surface at a later call
    cuda.detail = cudaGetErrorString(err);
    return cuda;
  }
  cuda.device_count = count;
  if (count == 0) cuda.detail = "the CUDA runtime reports 0 devices";
#else
  cuda.detail = "built without CUDA";
#endif
  return cuda;
}

}  // namespace waypoint
