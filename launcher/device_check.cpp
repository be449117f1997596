#include "launcher/device_check.hpp"

#include "worker/llama_weights.hpp"

namespace waypoint {

Result<Device, LaunchError> select_requested_device(const DeviceRequest& r) {
  const CudaAvailability cuda = r.flag == "cpu" ? CudaAvailability{} : probe_cuda();
  const int32_t cuda_ranks = r.cuda_tensor_parallel ? r.tensor_parallel_size : 1;
  auto device = select_device(r.flag, cuda, cuda_ranks);
  if (!device) return LaunchError{device.error().message};
  if (*device == Device::kCuda && !r.cuda_tensor_parallel && r.tensor_parallel_size > 1) {
    // Above one rank, CUDA needs one device and one NCCL rank per process, as
    // `waypoint serve` runs them.
    if (r.flag == "cuda") {
      return LaunchError{
          "--device cuda runs one rank; use waypoint serve for "
          "--tensor-parallel-size " +
          std::to_string(r.tensor_parallel_size) + " on CUDA"};
    }
    return Device::kCpu;
  }
  return *device;
}

Result<DeviceChoice, LaunchError> fit_device_to_model(Device selected, const DeviceRequest& r,
                                                      const ModelConfig& model) {
  if (auto ok = check_tp_divides(model, r.tensor_parallel_size); !ok) {
    return LaunchError{ok.error().message};
  }
  DeviceChoice choice{selected, {}};
  if (selected != Device::kCuda) return choice;
  if (auto ok = check_cuda_model(model); !ok) {
    if (r.flag == "cuda") return LaunchError{"--device cuda: " + ok.error().message};
    // auto picks the backend that can run this model.
    choice.device = Device::kCpu;
    choice.fallback_reason = ok.error().message;
  }
  return choice;
}

}  // namespace waypoint
