#pragma once
// Tensor parallelism across CUDA devices on one node: one worker process per rank,
// one device per rank, and an NCCL communicator that sums each layer's partial
// projections in bf16 on the model's stream. Rank 0 creates the communicator's
// unique id; the launcher relays it (nccl_id.hpp's text) to the other ranks, and
// every rank then joins with the same id.
#include <memory>

#include "base/result.hpp"
#include "worker/device_tp_communicator.hpp"
#include "worker/nccl_id.hpp"

struct ncclComm;  // nccl.h: typedef struct ncclComm* ncclComm_t

namespace waypoint {

// Rank 0 only; the id is good for one communicator.
Result<NcclIdBytes> create_nccl_id();

class NcclTpRank final : public DeviceTpCommunicator {
 public:
  // Joins on the current device; blocks until all `world_size` ranks have joined.
  static Result<std::unique_ptr<NcclTpRank>> join(const NcclIdBytes& id, int rank, int world_size);
  // Only join() can make the key, so only it constructs ranks.
  class Key {
    friend class NcclTpRank;
    Key() = default;
  };
  NcclTpRank(Key, ncclComm* comm, int rank, int world_size)
      : comm_(comm), rank_(rank), world_size_(world_size) {}
  ~NcclTpRank() override;
  NcclTpRank(const NcclTpRank&) = delete;
  NcclTpRank& operator=(const NcclTpRank&) = delete;

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  // Throws std::runtime_error when NCCL refuses the call.
  void all_reduce_sum(kernels::bf16* data, std::size_t count,
                      kernels::cuda::Stream stream) override;

 private:
  ncclComm* comm_;
  int rank_;
  int world_size_;
};

}  // namespace waypoint
