#pragma once
// What the prefix cache gained and lost, for `--kv-events` (docs/architecture.md, "Observability",
// vLLM's KV cache events): BlockStored when full blocks enter the cache,
// BlockRemoved when a cached block is evicted or dropped, AllBlocksCleared on
// a prefix-cache reset. The block pool records into the log as it works; the
// engine core takes the records once per step and publishes them on the
// hub's `kv` topic. A KV-aware router can mirror the cache from this stream.
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "engine_core/block_hash.hpp"
#include "proto/engine_core_request.hpp"
#include "proto/event_hub_frame.hpp"

namespace waypoint {

class KvEventLog {
 public:
  explicit KvEventLog(int32_t block_size) : block_size_(block_size) {}

  // A full block entered the cache. Blocks stored one after another in the
  // same chain (each the parent of the next) become one BlockStored event.
  void stored(BlockHash hash, std::optional<BlockHash> parent, std::span<const TokenId> tokens);
  void removed(BlockHash hash);
  void cleared();

  int32_t block_size() const { return block_size_; }
  bool empty() const { return records_.empty(); }
  // The records since the last take, as hub events stamped with the step
  // and the time of publication.
  std::vector<HubEvent> take(uint64_t scheduler_step, int64_t ts_monotonic_ns);

 private:
  enum class Kind { kStored, kRemoved, kCleared };
  struct Record {
    Kind kind;
    std::vector<int64_t> hashes;
    std::optional<int64_t> parent;
    std::vector<int64_t> token_ids;
  };

  int32_t block_size_;
  std::vector<Record> records_;
};

}  // namespace waypoint
