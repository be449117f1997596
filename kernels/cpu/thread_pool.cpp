#include "kernels/cpu/thread_pool.hpp"

#include <pthread.h>
#include <sched.h>

#include <chrono>
#include <sstream>
#include <string>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace waypoint::kernels::cpu {

namespace {

// Long enough to bridge the serial work between two regions of a decode step
// (a norm, a residual add), short enough that an idle rank sleeps at once.
constexpr auto kSpin = std::chrono::microseconds(200);

void relax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}

void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  // Best effort: a core outside this process's cgroup is refused, and the
  // thread then runs where the scheduler puts it.
  (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

}  // namespace

ThreadPool::ThreadPool(int num_threads, std::vector<int> cpus) {
  const int n = std::max(1, num_threads);
  if (!cpus.empty()) pin(cpus[0]);
  for (int i = 1; i < n; ++i) {
    workers_.emplace_back([this, i, cpus] {
      if (!cpus.empty()) pin(cpus[static_cast<size_t>(i) % cpus.size()]);
      work(i);
    });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_erased(Job job, void* ctx) {
  while (active_.load() > 0) relax();  // a late worker of the last job, leaving
  job_ = job;
  ctx_ = ctx;
  open_.store(true);
  generation_.fetch_add(1, std::memory_order_release);
  if (sleepers_.load() > 0) {
    std::lock_guard lock(mutex_);  // orders the wake after a sleeper's check
    wake_.notify_all();
  }
  job(ctx, 0);
  open_.store(false);
  while (active_.load() > 0) relax();
}

void ThreadPool::work(int index) {
  uint64_t seen = 0;
  for (;;) {
    const auto spin_until = std::chrono::steady_clock::now() + kSpin;
    uint64_t g = generation_.load(std::memory_order_acquire);
    for (int i = 0; g == seen; ++i) {
      relax();
      g = generation_.load(std::memory_order_acquire);
      if (i % 256 == 0 && std::chrono::steady_clock::now() > spin_until) break;
    }
    if (g == seen) {
      std::unique_lock lock(mutex_);
      sleepers_.fetch_add(1);
      wake_.wait(lock, [&] { return stop_ || generation_.load() != seen; });
      sleepers_.fetch_sub(1);
      if (stop_) return;
      g = generation_.load(std::memory_order_acquire);
    }
    seen = g;
    // Sequentially consistent, with open_'s stores in run_erased: either the
    // caller sees this worker counted, or this worker sees the job closed.
    active_.fetch_add(1);
    if (open_.load()) job_(ctx_, index);
    active_.fetch_sub(1);
  }
}

std::vector<int> parse_cpu_list(const std::string& list) {
  std::vector<int> cpus;
  std::stringstream in(list);
  std::string part;
  while (std::getline(in, part, ',')) {
    if (part.empty()) continue;
    const auto dash = part.find('-');
    try {
      const int lo = std::stoi(part.substr(0, dash));
      const int hi = dash == std::string::npos ? lo : std::stoi(part.substr(dash + 1));
      if (lo < 0 || hi < lo || hi >= CPU_SETSIZE) return {};
      for (int c = lo; c <= hi; ++c) cpus.push_back(c);
    } catch (const std::exception&) {
      return {};
    }
  }
  return cpus;
}

std::vector<int> cpus_for_rank(const std::string& bind, int rank) {
  std::stringstream in(bind);
  std::string part;
  for (int r = 0; std::getline(in, part, '|'); ++r) {
    if (r == rank) return parse_cpu_list(part);
  }
  return {};
}

}  // namespace waypoint::kernels::cpu
