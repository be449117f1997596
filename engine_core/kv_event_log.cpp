#include "engine_core/kv_event_log.hpp"

#include <bit>

#include "telemetry/trace_attributes.hpp"

namespace waypoint {

namespace {

// The same 64 bits: msgpack readers in other languages get a plain integer.
int64_t as_int64(BlockHash h) { return std::bit_cast<int64_t>(h); }

}  // namespace

void KvEventLog::stored(BlockHash hash, std::optional<BlockHash> parent,
                        std::span<const TokenId> tokens) {
  const bool extends_last = !records_.empty() && records_.back().kind == Kind::kStored &&
                            parent && records_.back().hashes.back() == as_int64(*parent);
  if (!extends_last) {
    Record& r = records_.emplace_back(Record{Kind::kStored, {}, std::nullopt, {}});
    if (parent) r.parent = as_int64(*parent);
  }
  Record& r = records_.back();
  r.hashes.push_back(as_int64(hash));
  r.token_ids.insert(r.token_ids.end(), tokens.begin(), tokens.end());
}

void KvEventLog::removed(BlockHash hash) {
  if (records_.empty() || records_.back().kind != Kind::kRemoved) {
    records_.push_back(Record{Kind::kRemoved, {}, std::nullopt, {}});
  }
  records_.back().hashes.push_back(as_int64(hash));
}

void KvEventLog::cleared() {
  // Whatever came before is moot for a mirror that is about to be emptied.
  records_.clear();
  records_.push_back(Record{Kind::kCleared, {}, std::nullopt, {}});
}

std::vector<HubEvent> KvEventLog::take(uint64_t scheduler_step, int64_t ts_monotonic_ns) {
  std::vector<HubEvent> events;
  events.reserve(records_.size());
  for (Record& r : records_) {
    HubEvent& e = events.emplace_back();
    auto add = [&](std::string_view key, AttrValue value) {
      e.attrs.emplace_back(std::string(key), std::move(value));
    };
    switch (r.kind) {
      case Kind::kStored:
        add(attr::kEventType, std::string(event_name::kBlockStored));
        break;
      case Kind::kRemoved:
        add(attr::kEventType, std::string(event_name::kBlockRemoved));
        break;
      case Kind::kCleared:
        add(attr::kEventType, std::string(event_name::kAllBlocksCleared));
        break;
    }
    add(attr::kTsMonotonicNs, ts_monotonic_ns);
    add(attr::kSchedulerStep, static_cast<int64_t>(scheduler_step));
    if (r.kind == Kind::kCleared) continue;
    add(attr::kKvBlockHashes, std::move(r.hashes));
    if (r.kind == Kind::kStored) {
      add(attr::kKvParentBlockHash, r.parent ? AttrValue{*r.parent} : AttrValue{});
      add(attr::kKvTokenIds, std::move(r.token_ids));
      add(attr::kKvBlockSize, int64_t{block_size_});
    }
  }
  records_.clear();
  return events;
}

}  // namespace waypoint
