#include "worker/device_selection.hpp"

namespace waypoint {

std::string_view device_name(Device device) { return device == Device::kCuda ? "cuda" : "cpu"; }

Result<void> check_device_flag(std::string_view flag) {
  if (flag == "auto" || flag == "cpu" || flag == "cuda") return {};
  return Error{"--device must be auto, cpu or cuda, got '" + std::string(flag) + "'"};
}

Result<void> check_cuda_model(const ModelConfig& model) {
  const int32_t d = model.head_dim;
  if (d == 16 || d == 32 || d == 64 || d == 128 || d == 256) return {};
  return Error{
      "the CUDA backend's attention takes head_dim 16, 32, 64, 128 or 256, and this model's is " +
      std::to_string(d)};
}

Result<Device> select_device(std::string_view flag, const CudaAvailability& cuda,
                             int32_t tensor_parallel_size) {
  if (auto ok = check_device_flag(flag); !ok) return ok.error();
  if (flag == "cpu") return Device::kCpu;
  const bool usable = cuda.built && cuda.device_count > 0;
  // auto falls back to CPU only where CUDA cannot run at all (no backend in the
  // build, no device), as vLLM's auto picks the platform it finds.
  if (flag == "auto" && !usable) return Device::kCpu;
  if (!cuda.built) {
    return Error{
        "--device cuda: this waypoint was built without CUDA (nvcc was not found at "
        "configure time); use --device cpu"};
  }
  if (cuda.device_count <= 0) {
    return Error{"--device cuda: no CUDA device is visible" +
                 (cuda.detail.empty() ? std::string() : " (" + cuda.detail + ")") +
                 "; use --device cpu"};
  }
  if (cuda.device_count < tensor_parallel_size) {
    return Error{"--device " + std::string(flag) + " chose cuda, but --tensor-parallel-size " +
                 std::to_string(tensor_parallel_size) + " needs one CUDA device per rank and " +
                 std::to_string(cuda.device_count) +
                 " are visible; use --device cpu or fewer ranks"};
  }
  if (tensor_parallel_size > 1 && !cuda.nccl) {
    return Error{"--device " + std::string(flag) +
                 " chose cuda, but this waypoint was built "
                 "without NCCL (nccl.h was not found at configure time), which "
                 "--tensor-parallel-size above 1 needs on CUDA"};
  }
  return Device::kCuda;
}

}  // namespace waypoint
