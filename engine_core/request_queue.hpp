#pragma once
// The waiting queue, ordered by the scheduling policy. FCFS serves in arrival
// order, with preempted requests put back at the head; the priority policy
// serves the lowest (priority, arrival_time) first, as vLLM does.
#include <cstdint>
#include <set>
#include <tuple>
#include <unordered_map>

#include "engine_core/request.hpp"

namespace waypoint {

enum class SchedulingPolicy : uint8_t { FCFS, PRIORITY };

class RequestQueue {
 public:
  explicit RequestQueue(SchedulingPolicy policy) : policy_(policy) {}

  void push_back(Request* request);   // a new arrival
  void push_front(Request* request);  // a preempted request: FCFS puts it first
  Request* front() const { return entries_.empty() ? nullptr : entries_.begin()->request; }
  void pop_front();
  bool remove(Request* request);  // false when absent
  bool empty() const { return entries_.empty(); }
  int32_t size() const { return static_cast<int32_t>(entries_.size()); }

 private:
  // (priority, arrival_time, position): position is the FCFS order, and
  // breaks ties under the priority policy.
  struct Entry {
    int32_t priority;
    double arrival_time;
    int64_t position;
    Request* request;
    bool operator<(const Entry& o) const {
      return std::tie(priority, arrival_time, position) <
             std::tie(o.priority, o.arrival_time, o.position);
    }
  };
  void insert(Request* request, int64_t position);

  SchedulingPolicy policy_;
  std::set<Entry> entries_;
  std::unordered_map<const Request*, std::set<Entry>::iterator> where_;
  int64_t next_back_ = 0;
  int64_t next_front_ = -1;
};

}  // namespace waypoint
