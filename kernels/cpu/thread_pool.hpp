#pragma once
// A persistent pool of compute threads for one worker rank. A forward pass runs
// dozens of parallel regions per layer (each matrix product, the attention), so
// threads are created once, optionally pinned to cores, and between regions
// they spin briefly before sleeping: the next region usually starts within
// microseconds, and a sleeping thread would take tens of microseconds to wake.
// The calling thread is thread 0 and works too.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace waypoint::kernels::cpu {

class ThreadPool {
 public:
  // NUM_THREADS counts the caller. CPUS, when not empty, pins thread i to
  // CPUS[i % size] (the caller included), so TP ranks on one host keep to
  // disjoint cores.
  explicit ThreadPool(int num_threads, std::vector<int> cpus = {});
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ~ThreadPool();

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Splits [0, n) into chunks of at most CHUNK and hands them out on demand:
  // fn(begin, end, thread), THREAD in [0, size()) naming the thread that runs
  // the chunk (for per-thread scratch). The caller takes chunks too, and
  // returns once every chunk is done; it never waits for a thread that has
  // not started, so a worker the OS has put to sleep or preempted costs
  // nothing but its own share (on a shared host, the other tenants').
  template <class F>
  void parallel_for(int64_t n, int64_t chunk, F&& fn) {
    if (n <= 0) return;
    if (n <= chunk || size() == 1) {
      fn(int64_t{0}, n, 0);
      return;
    }
    struct Loop {
      std::atomic<int64_t> next{0};
      int64_t n;
      int64_t chunk;
      std::remove_reference_t<F>* fn;
    } loop{.n = n, .chunk = chunk, .fn = &fn};
    run_erased(
        [](void* ctx, int thread) {
          auto& l = *static_cast<Loop*>(ctx);
          for (int64_t b = l.next.fetch_add(l.chunk); b < l.n; b = l.next.fetch_add(l.chunk)) {
            (*l.fn)(b, std::min(l.n, b + l.chunk), thread);
          }
        },
        &loop);
  }

 private:
  using Job = void (*)(void*, int);
  void run_erased(Job job, void* ctx);
  void work(int index);

  std::vector<std::thread> workers_;
  // The job in flight. A worker reads job_ and ctx_ only after it has counted
  // itself in active_ and found open_ set; the caller writes them only while
  // open_ is clear and returns only once active_ is back to zero, so the
  // job's context (on the caller's stack) outlives every use.
  Job job_ = nullptr;
  void* ctx_ = nullptr;
  std::atomic<bool> open_{false};
  std::atomic<int> active_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> sleepers_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by mutex_
};

// Cores for a pool: "0-3,8" (a Linux cpulist); an empty or unparsable list is
// empty (no pinning). VLLM_CPU_OMP_THREADS_BIND gives one list per rank,
// separated by '|'; RANK picks its own.
std::vector<int> parse_cpu_list(const std::string& list);
std::vector<int> cpus_for_rank(const std::string& bind, int rank);

}  // namespace waypoint::kernels::cpu
