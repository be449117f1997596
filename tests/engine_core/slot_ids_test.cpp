// SlotIds keeps request ids in reused step buffers without copying them every
// step: a slot holds the right id whatever moved, and copies only when it must.
#include "engine_core/slot_ids.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace waypoint {
namespace {

struct Slot {
  std::string request_id;
};

// Request k's id and arrival_seq, long enough to live on the heap as real ids do.
std::string id_of(uint64_t k) { return "cmpl-3f2a9c1e0b7d4e5f-" + std::to_string(k); }

// One step: the slots hold `order`'s ids, in order, afterwards.
void step(SlotIds& ids, std::vector<Slot>& slots, const std::vector<uint64_t>& order) {
  for (size_t i = 0; i < order.size(); ++i) {
    if (i == slots.size()) slots.emplace_back();
    ids.assign(slots, i, id_of(order[i]), order[i]);
  }
  slots.resize(order.size());
  ids.truncate(order.size());
  for (size_t i = 0; i < order.size(); ++i) ASSERT_EQ(slots[i].request_id, id_of(order[i])) << i;
}

TEST(SlotIds, SameSlotKeepsItsBytes) {
  SlotIds ids;
  std::vector<Slot> slots;
  step(ids, slots, {1, 2, 3});
  const char* held = slots[1].request_id.data();
  step(ids, slots, {1, 2, 3});
  EXPECT_EQ(slots[1].request_id.data(), held);  // not copied again
}

TEST(SlotIds, IdsFollowRequestsThatMoveUp) {
  SlotIds ids;
  std::vector<Slot> slots;
  step(ids, slots, {1, 2, 3, 4, 5, 6});
  const char* held = slots[5].request_id.data();
  step(ids, slots, {1, 3, 4, 6, 7});            // 2 and 5 finished, 7 arrived
  EXPECT_EQ(slots[3].request_id.data(), held);  // request 6's id moved with it
  step(ids, slots, {7, 1});                     // further than a shift: copied
  step(ids, slots, {});
  step(ids, slots, {8, 7});
}

TEST(SlotIds, ASlotEmptiedBehindItsBackIsRefilled) {
  SlotIds ids;
  std::vector<Slot> slots;
  step(ids, slots, {1, 2});
  std::string taken = std::move(slots[0].request_id);
  slots[0].request_id.clear();
  step(ids, slots, {1, 2});
  EXPECT_EQ(taken, id_of(1));
}

TEST(SlotIds, IdsOfNoLiveRequestAreAlwaysCopied) {
  SlotIds ids;
  std::vector<Slot> slots(1);
  ids.assign(slots, 0, "abort-a", SlotIds::kNone);
  EXPECT_EQ(slots[0].request_id, "abort-a");
  ids.assign(slots, 0, "abort-b", SlotIds::kNone);
  EXPECT_EQ(slots[0].request_id, "abort-b");
  ids.assign(slots, 0, id_of(4), 4);
  EXPECT_EQ(slots[0].request_id, id_of(4));
}

}  // namespace
}  // namespace waypoint
