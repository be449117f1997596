#include "engine_core/request_queue.hpp"

#include <cassert>

namespace waypoint {

void RequestQueue::insert(Request* request, int64_t position) {
  Entry entry{0, 0.0, position, request};
  if (policy_ == SchedulingPolicy::PRIORITY) {
    entry.priority = request->priority;
    entry.arrival_time = request->arrival_time;
    // Under the priority policy a preempted request keeps its place by its
    // original (priority, arrival), so the position only breaks ties.
    entry.position = static_cast<int64_t>(request->arrival_seq);
  }
  auto [it, inserted] = entries_.insert(entry);
  assert(inserted);
  where_.emplace(request, it);
}

void RequestQueue::push_back(Request* request) { insert(request, next_back_++); }

void RequestQueue::push_front(Request* request) { insert(request, next_front_--); }

void RequestQueue::pop_front() {
  assert(!entries_.empty());
  where_.erase(entries_.begin()->request);
  entries_.erase(entries_.begin());
}

bool RequestQueue::remove(Request* request) {
  auto it = where_.find(request);
  if (it == where_.end()) return false;
  entries_.erase(it->second);
  where_.erase(it);
  return true;
}

}  // namespace waypoint
