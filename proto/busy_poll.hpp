#pragma once
// zmq::poll that re-polls without blocking for a while before it sleeps.
//
// A step crosses four threads each way (the sender, both sides' ZeroMQ I/O
// threads, the receiver). When the receiver sleeps, the message has to wake
// a CPU, and on a virtual machine an idle vCPU is halted: waking it costs
// tens of microseconds per hop, about a third of a small decode step on the
// demo model (docs/perf-model.md). Worse, it depends on how idle the other
// CPUs happen to be, so the same batch runs faster under more traffic, which
// no model of the batch can learn. The engine core and the workers therefore
// spin for a bounded time on the sockets that carry steps, as vLLM's
// shared-memory broadcast queue does; the yield in the loop lets any other
// runnable thread on the CPU go first.
#include <chrono>
#include <thread>

#include <zmq.hpp>

namespace waypoint {

// Returns the number of items with events, like zmq::poll; 0 when `block`
// ran out as well. `block` negative: wait without a deadline after the spin.
inline int busy_poll(zmq::pollitem_t* items, size_t count, std::chrono::microseconds spin,
                     std::chrono::milliseconds block) {
  if (spin.count() > 0) {
    const auto until = std::chrono::steady_clock::now() + spin;
    do {
      if (const int ready = zmq::poll(items, count, std::chrono::milliseconds(0)); ready > 0) {
        return ready;
      }
      std::this_thread::yield();
    } while (std::chrono::steady_clock::now() < until);
  }
  return zmq::poll(items, count, block);
}

}  // namespace waypoint
