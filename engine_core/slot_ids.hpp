#pragma once
// Request ids in the step buffers that the scheduler reuses from step to step
// (the SchedulerOutput's cached requests, each client's outputs). A running
// request holds the same slot step after step, or one a little nearer the
// front once a request before it finished, so its id needs copying once, not
// every step: each copy would touch two cold heap blocks (the request's id
// and the slot's) per request per step, and ids are too long to live in a
// std::string itself.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace waypoint {

class SlotIds {
 public:
  // For an id of no live request (an abort's output): always copied.
  static constexpr uint64_t kNone = UINT64_MAX;

  // Makes slots[index].request_id hold `id`, the id of the request whose
  // arrival_seq (unique per request) is `seq`. Slots are assigned in order
  // from 0 each step, after truncate() to the last step's number.
  template <class Slot>
  void assign(std::vector<Slot>& slots, size_t index, const std::string& id, uint64_t seq) {
    std::string& slot_id = slots[index].request_id;
    if (holds(index, slot_id, id, seq)) return;
    // Requests behind a finished one move up: their ids are still in the
    // slots they had, not yet assigned this step. Swapping brings an id
    // along without touching its bytes.
    const size_t end = std::min(owners_.size(), index + 1 + kMaxShift);
    for (size_t from = index + 1; from < end; ++from) {
      if (holds(from, slots[from].request_id, id, seq)) {
        slot_id.swap(slots[from].request_id);
        std::swap(owners_[index], owners_[from]);
        return;
      }
    }
    slot_id = id;
    if (index >= owners_.size()) owners_.resize(index + 1, kNone);
    owners_[index] = seq;
  }

  // The buffer kept its first n slots.
  void truncate(size_t n) {
    if (owners_.size() > n) owners_.resize(n);
  }

 private:
  // Finished requests ahead of a slot that one step can make up for.
  static constexpr size_t kMaxShift = 4;

  // The size check also catches a slot emptied since (a new or moved-from one).
  bool holds(size_t index, const std::string& slot_id, const std::string& id, uint64_t seq) const {
    return seq != kNone && index < owners_.size() && owners_[index] == seq &&
           slot_id.size() == id.size();
  }

  std::vector<uint64_t> owners_;  // arrival_seq by slot
};

}  // namespace waypoint
