// RequestQueue: vLLM V1's FCFSRequestQueue (a deque: add_request = append,
// prepend_request = appendleft) and PriorityRequestQueue (a heap on
// (priority, arrival_time)).
#include "engine_core/request_queue.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

namespace waypoint {
namespace {

using ::testing::ElementsAre;

// Owns the requests; the queue only points at them.
struct Requests {
  std::deque<Request> all;
  uint64_t next_seq = 0;
  Request* add(std::string id, int32_t priority = 0, double arrival_time = 0.0) {
    Request& r = all.emplace_back();
    r.request_id = std::move(id);
    r.priority = priority;
    r.arrival_time = arrival_time;
    r.arrival_seq = next_seq++;
    return &r;
  }
};

std::vector<std::string> drain(RequestQueue& q) {
  std::vector<std::string> ids;
  while (!q.empty()) {
    ids.push_back(q.front()->request_id);
    q.pop_front();
  }
  return ids;
}

TEST(RequestQueue, EmptyQueueHasNoFront) {
  RequestQueue q(SchedulingPolicy::FCFS);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.size(), 0);
  EXPECT_EQ(q.front(), nullptr);
}

TEST(RequestQueue, FcfsServesInArrivalOrderIgnoringPriority) {
  Requests rs;
  RequestQueue q(SchedulingPolicy::FCFS);
  q.push_back(rs.add("a", 5, 3.0));
  q.push_back(rs.add("b", 0, 2.0));
  q.push_back(rs.add("c", -1, 1.0));
  EXPECT_EQ(q.size(), 3);
  EXPECT_THAT(drain(q), ElementsAre("a", "b", "c"));
}

TEST(RequestQueue, FcfsPushFrontGoesAheadOfEveryone) {
  Requests rs;
  RequestQueue q(SchedulingPolicy::FCFS);
  q.push_back(rs.add("a"));
  q.push_back(rs.add("b"));
  q.push_front(rs.add("preempted"));
  EXPECT_EQ(q.front()->request_id, "preempted");
  EXPECT_THAT(drain(q), ElementsAre("preempted", "a", "b"));
}

TEST(RequestQueue, FcfsSuccessivePushFrontsAreLifoAtTheHead) {
  // The scheduler preempts from the tail of the running list, so the later
  // arrival is preempted (and prepended) first; appendleft then puts the
  // earlier arrival back in front of it, restoring arrival order.
  Requests rs;
  RequestQueue q(SchedulingPolicy::FCFS);
  q.push_back(rs.add("waiting"));
  q.push_front(rs.add("first_preempted"));
  q.push_front(rs.add("second_preempted"));
  EXPECT_THAT(drain(q), ElementsAre("second_preempted", "first_preempted", "waiting"));
}

TEST(RequestQueue, FcfsPushBackAfterPushFrontStillGoesLast) {
  Requests rs;
  RequestQueue q(SchedulingPolicy::FCFS);
  q.push_front(rs.add("p"));
  q.push_back(rs.add("a"));
  q.push_front(rs.add("q"));
  q.push_back(rs.add("b"));
  EXPECT_THAT(drain(q), ElementsAre("q", "p", "a", "b"));
}

TEST(RequestQueue, PriorityServesLowestPriorityThenEarliestArrival) {
  Requests rs;
  RequestQueue q(SchedulingPolicy::PRIORITY);
  q.push_back(rs.add("p1_late", 1, 5.0));
  q.push_back(rs.add("p0_late", 0, 4.0));
  q.push_back(rs.add("p1_early", 1, 1.0));
  q.push_back(rs.add("p0_early", 0, 3.0));
  q.push_back(rs.add("neg", -2, 9.0));
  EXPECT_THAT(drain(q), ElementsAre("neg", "p0_early", "p0_late", "p1_early", "p1_late"));
}

TEST(RequestQueue, PriorityTiesAreBrokenByArrivalOrder) {
  Requests rs;
  RequestQueue q(SchedulingPolicy::PRIORITY);
  // Same priority and arrival_time (clients often send coarse timestamps).
  q.push_back(rs.add("x", 0, 1.0));
  q.push_back(rs.add("y", 0, 1.0));
  q.push_back(rs.add("z", 0, 1.0));
  EXPECT_THAT(drain(q), ElementsAre("x", "y", "z"));
}

TEST(RequestQueue, PriorityPushFrontKeepsThePriorityOrder) {
  // A preempted request re-enters by its own (priority, arrival): it does
  // not jump ahead of better requests as it would under FCFS.
  Requests rs;
  RequestQueue q(SchedulingPolicy::PRIORITY);
  Request* worse = rs.add("worse", 5, 0.5);
  q.push_back(rs.add("better", 0, 2.0));
  q.push_front(worse);
  EXPECT_EQ(q.front()->request_id, "better");
  q.push_front(rs.add("best", -1, 3.0));
  EXPECT_THAT(drain(q), ElementsAre("best", "better", "worse"));
}

TEST(RequestQueue, RemoveFromTheMiddle) {
  Requests rs;
  RequestQueue q(SchedulingPolicy::FCFS);
  q.push_back(rs.add("a"));
  Request* b = rs.add("b");
  q.push_back(b);
  q.push_back(rs.add("c"));
  EXPECT_TRUE(q.remove(b));
  EXPECT_EQ(q.size(), 2);
  EXPECT_FALSE(q.remove(b));  // already gone
  EXPECT_THAT(drain(q), ElementsAre("a", "c"));
}

TEST(RequestQueue, RemoveUnderPriorityAndReinsert) {
  Requests rs;
  RequestQueue q(SchedulingPolicy::PRIORITY);
  Request* a = rs.add("a", 0, 1.0);
  q.push_back(a);
  q.push_back(rs.add("b", 1, 1.0));
  q.push_back(rs.add("c", 2, 1.0));
  EXPECT_TRUE(q.remove(a));
  EXPECT_EQ(q.front()->request_id, "b");
  q.push_back(a);  // a removed request can come back
  EXPECT_THAT(drain(q), ElementsAre("a", "b", "c"));
}

TEST(RequestQueue, RemoveOfAnUnknownRequestIsANoOp) {
  Requests rs;
  RequestQueue q(SchedulingPolicy::FCFS);
  q.push_back(rs.add("a"));
  EXPECT_FALSE(q.remove(rs.add("stranger")));
  EXPECT_EQ(q.size(), 1);
  EXPECT_EQ(q.front()->request_id, "a");
}

}  // namespace
}  // namespace waypoint
