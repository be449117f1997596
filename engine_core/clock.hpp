#pragma once
// Where the engine core reads time. The server reads the steady clock; the
// simulator advances a virtual one, so the same scheduler code runs in both.
#include <chrono>
#include <cstdint>

namespace waypoint {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_ns() const = 0;  // monotonic nanoseconds
};

class SteadyClock final : public Clock {
 public:
  int64_t now_ns() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

class ManualClock final : public Clock {
 public:
  int64_t now_ns() const override { return now_ns_; }
  void advance_ns(int64_t ns) { now_ns_ += ns; }
  void set_ns(int64_t ns) { now_ns_ = ns; }

 private:
  int64_t now_ns_ = 0;
};

}  // namespace waypoint
