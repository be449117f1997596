#pragma once
// TpCommunicator's counterpart for activations that live on a CUDA device: the
// same two all-reduces per layer (after the attention output projection and after
// the MLP down projection), summed on the device and ordered on the model's
// stream, so the forward pass never waits on the host for them. NCCL does it
// across ranks (nccl_tp_group.hpp); a single rank has nothing to do.
#include <cstddef>

#include "kernels/bf16.hpp"
#include "kernels/cuda/stream.hpp"

namespace waypoint {

class DeviceTpCommunicator {
 public:
  virtual ~DeviceTpCommunicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // Sums `count` device values across ranks in place, enqueued on `stream`;
  // every rank gets the same result.
  virtual void all_reduce_sum(kernels::bf16* data, std::size_t count,
                              kernels::cuda::Stream stream) = 0;
};

class SingleDevice final : public DeviceTpCommunicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void all_reduce_sum(kernels::bf16*, std::size_t, kernels::cuda::Stream) override {}
};

}  // namespace waypoint
