#pragma once
// How tensor-parallel ranks combine partial sums: one all-reduce after the
// attention output projection and one after the MLP down projection. A single
// rank needs none; CPU ranks share memory, GPU ranks use NCCL.
#include <span>

namespace waypoint {

class TpCommunicator {
 public:
  virtual ~TpCommunicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // Sums `data` across ranks in place; every rank gets the same result.
  virtual void all_reduce_sum(std::span<float> data) = 0;
};

class SingleRank final : public TpCommunicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void all_reduce_sum(std::span<float>) override {}
};

}  // namespace waypoint
