#pragma once
// Tensor parallelism between the ranks of one host on CPU, through one
// shared-memory region, a file under /dev/shm that the launcher creates and
// each rank maps. Ranks meet at barriers; an all-reduce sums every rank's slot
// in rank order, so all ranks get the same bits. (The steps themselves reach
// every rank over ZeroMQ: engine_core/worker_client.hpp.)
//
// A rank that dies must not hang the others: waiting ranks poll a liveness
// check and give up with an error naming what died.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "worker/tp_communicator.hpp"

namespace waypoint {

class ShmTpGroup {
 public:
  // Creates the region's file; max_floats bounds one all-reduce (tokens per
  // step x hidden size). The creator removes the file when the run ends.
  static Result<void> create_file(const std::string& path, int world_size, size_t max_floats);
  // Maps the file, with the same sizes it was created with.
  static Result<std::shared_ptr<ShmTpGroup>> attach(const std::string& path, int world_size,
                                                    size_t max_floats);
  // Only attach() can make the key, so only it constructs groups.
  class Key {
    friend class ShmTpGroup;
    Key() = default;
  };
  ShmTpGroup(Key, void* base, size_t bytes, int world_size, size_t max_floats);
  ~ShmTpGroup();
  ShmTpGroup(const ShmTpGroup&) = delete;
  ShmTpGroup& operator=(const ShmTpGroup&) = delete;

  int world_size() const { return world_size_; }
  size_t max_floats() const { return max_floats_; }

  // Marks the group failed; every rank waiting at a barrier then throws.
  void abort(std::string_view why);
  bool aborted() const;

  // Blocks until every rank arrives. Throws std::runtime_error when the group
  // is aborted or `alive` (polled while waiting) returns false.
  void barrier(const std::function<bool()>& alive);

  float* slot(int rank) { return slots_ + static_cast<size_t>(rank) * max_floats_; }

 private:
  struct Header;

  void* base_;
  size_t bytes_;
  int world_size_;
  size_t max_floats_;
  Header* header_;
  float* slots_;
};

// One rank's view of the group, as a TpCommunicator for the model.
class ShmTpRank final : public TpCommunicator {
 public:
  ShmTpRank(std::shared_ptr<ShmTpGroup> group, int rank, std::function<bool()> alive);

  int rank() const override { return rank_; }
  int world_size() const override { return group_->world_size(); }
  void all_reduce_sum(std::span<float> data) override;

  ShmTpGroup& group() { return *group_; }

 private:
  std::shared_ptr<ShmTpGroup> group_;
  int rank_;
  std::function<bool()> alive_;
};

}  // namespace waypoint
