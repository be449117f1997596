#pragma once
// Polls a condition until it holds or a deadline passes: tests wait on what
// they expect, never on a fixed sleep.
#include <chrono>
#include <functional>
#include <thread>

namespace waypoint::testing {

inline bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                     std::chrono::milliseconds poll = std::chrono::milliseconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(poll);
  }
  return true;
}

}  // namespace waypoint::testing
