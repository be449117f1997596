#include "perf/bench_runner.hpp"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace waypoint::bench {

namespace {

using Clock = std::chrono::steady_clock;

// A counting semaphore whose limit is chosen at run time; unlimited when unset.
class Slots {
 public:
  explicit Slots(std::optional<std::size_t> limit) : limit_(limit) {}
  void acquire() {
    std::unique_lock lock(mutex_);
    freed_.wait(lock, [&] { return !limit_ || in_use_ < *limit_; });
    ++in_use_;
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      --in_use_;
    }
    freed_.notify_one();
  }

 private:
  std::optional<std::size_t> limit_;
  std::size_t in_use_ = 0;
  std::mutex mutex_;
  std::condition_variable freed_;
};

}  // namespace

RunOutcome run_open_loop(const std::vector<BenchRequest>& requests,
                         const std::vector<double>& offsets,
                         std::optional<std::size_t> max_concurrency, const SendRequest& send,
                         const OnProgress& on_progress) {
  RunOutcome outcome;
  outcome.records.resize(requests.size());
  Slots slots(max_concurrency);
  std::mutex progress_mutex;
  std::size_t done = 0;
  std::size_t failed = 0;
  const auto start = Clock::now();
  {
    std::vector<std::jthread> in_flight;
    in_flight.reserve(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
      const double offset = i < offsets.size() ? offsets[i] : 0.0;
      std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                                std::chrono::duration<double>(offset)));
      slots.acquire();
      in_flight.emplace_back([&, i] {
        RequestRecord record = send(requests[i]);
        slots.release();
        std::lock_guard lock(progress_mutex);
        ++done;
        if (!record.success) ++failed;
        outcome.records[i] = std::move(record);
        if (on_progress) on_progress(done, failed);
      });
    }
  }  // the jthreads join here
  outcome.duration_s = std::chrono::duration<double>(Clock::now() - start).count();
  return outcome;
}

}  // namespace waypoint::bench
