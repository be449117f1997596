#pragma once
// The one check `serve` and `generate` make before they run a model. First,
// what --device can be on this machine and this build, said before any model
// is read. Then, with the model's config: the tensor-parallel size must divide
// it, and the CUDA backend must suit it; --device auto falls back to cpu where
// cuda cannot run, and --device cuda refuses.
#include <cstdint>
#include <string>

#include "base/result.hpp"
#include "worker/device_selection.hpp"
#include "worker/model_config.hpp"

namespace waypoint {

// A failure before anything runs, with the exit code it deserves: 2 for a
// command line that cannot work, 1 for a model that cannot be read.
struct LaunchError {
  std::string message;
  int exit_code = 2;
};

struct DeviceRequest {
  std::string flag = "auto";  // --device: auto, cpu or cuda
  int32_t tensor_parallel_size = 1;
  // Whether this command runs CUDA ranks beyond one: serve does, through NCCL;
  // generate runs one CUDA rank, and its auto picks cpu above one.
  bool cuda_tensor_parallel = true;
};

// Step one, before the model is read.
Result<Device, LaunchError> select_requested_device(const DeviceRequest& request);

struct DeviceChoice {
  Device device = Device::kCpu;
  std::string fallback_reason;  // non-empty: auto chose cpu because cuda cannot run this
};

// Step two, with the model's config.
Result<DeviceChoice, LaunchError> fit_device_to_model(Device selected, const DeviceRequest& request,
                                                      const ModelConfig& model);

}  // namespace waypoint
