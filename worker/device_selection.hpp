#pragma once
// Which backend a worker runs on: `--device auto|cpu|cuda`, as vLLM's flag. The
// choice is a pure function of the flag and of what the build and the machine offer,
// so that it can be tested on any machine; probe_cuda() asks the machine.
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "worker/model_config.hpp"

namespace waypoint {

enum class Device { kCpu, kCuda };

std::string_view device_name(Device device);  // "cpu", "cuda"

// What CUDA this process can use.
struct CudaAvailability {
  bool built = false;    // this binary was built with the CUDA backend
  bool nccl = false;     // ... and with NCCL, which tensor parallelism on CUDA needs
  int device_count = 0;  // devices visible to it (CUDA_VISIBLE_DEVICES applies)
  std::string detail;    // why there are none, when there are none
};

// Asks the CUDA runtime how many devices are visible. Without the CUDA backend in
// the build it reports built = false and touches nothing. It never throws: a
// missing driver is "no device", with the runtime's reason in `detail`.
CudaAvailability probe_cuda();

// auto: cuda when the build has it and a device is visible, else cpu.
// cuda: an error, naming the flag, when the build lacks it or no device is visible.
// Either way, cuda needs one device per tensor-parallel rank, and NCCL above one
// rank; a shortfall is an error.
// cpu: cpu.
// Anything else is an error naming the accepted values.
Result<Device> select_device(std::string_view flag, const CudaAvailability& cuda,
                             int32_t tensor_parallel_size);

// What the CUDA backend cannot run: its attention kernel takes head_dim 16, 32, 64,
// 128 or 256 only (kernels/cuda/paged_attention.hpp). The error says why, without
// the flag, so that auto can fall back to cpu and cuda can refuse.
Result<void> check_cuda_model(const ModelConfig& model);

// The flag's value alone, before any probing: one of auto, cpu, cuda.
Result<void> check_device_flag(std::string_view flag);

}  // namespace waypoint
