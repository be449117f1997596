#include "worker/shm_tp_group.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>
#include <stdexcept>
#include <thread>

#include "base/unique_fd.hpp"

namespace waypoint {

struct ShmTpGroup::Header {  // fits in the first 320 bytes (see region_bytes)
  std::atomic<uint32_t> arrived{0};
  std::atomic<uint32_t> generation{0};
  std::atomic<uint32_t> aborted{0};
  char why[256] = {};
};

static_assert(std::atomic<uint32_t>::is_always_lock_free,
              "shared-memory atomics must be lock-free to work across processes");

namespace {
size_t align_up(size_t n) { return (n + 63) / 64 * 64; }

size_t region_bytes(int world_size, size_t max_floats) {
  return align_up(64 * 5) + align_up(static_cast<size_t>(world_size) * max_floats * sizeof(float));
}
}  // namespace

Result<void> ShmTpGroup::create_file(const std::string& path, int world_size, size_t max_floats) {
  if (world_size < 1) return Error{"tensor-parallel group needs at least one rank"};
  const size_t bytes = region_bytes(world_size, max_floats);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return Error{"cannot create " + path + ": " + std::strerror(errno)};
  const bool sized = ::ftruncate(fd.get(), static_cast<off_t>(bytes)) == 0;
  const int saved = errno;
  void* base =
      sized ? mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0) : MAP_FAILED;
  fd.reset();  // the mapping keeps the file
  if (base == MAP_FAILED) {
    ::unlink(path.c_str());
    return Error{"cannot size " + path + " to " + std::to_string(bytes) +
                 " bytes: " + std::strerror(sized ? errno : saved)};
  }
  new (base) Header();
  munmap(base, bytes);
  return {};
}

Result<std::shared_ptr<ShmTpGroup>> ShmTpGroup::attach(const std::string& path, int world_size,
                                                       size_t max_floats) {
  const size_t bytes = region_bytes(world_size, max_floats);
  const UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) return Error{"cannot open " + path + ": " + std::strerror(errno)};
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || static_cast<size_t>(st.st_size) != bytes) {
    return Error{path + " is not a tensor-parallel region of " + std::to_string(bytes) +
                 " bytes (ranks disagree on the group's sizes)"};
  }
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (base == MAP_FAILED) return Error{"cannot map " + path + ": " + std::strerror(errno)};
  return std::make_shared<ShmTpGroup>(Key{}, base, bytes, world_size, max_floats);
}

ShmTpGroup::ShmTpGroup(Key, void* base, size_t bytes, int world_size, size_t max_floats)
    : base_(base), bytes_(bytes), world_size_(world_size), max_floats_(max_floats) {
  auto* p = static_cast<char*>(base);
  static_assert(sizeof(Header) <= 64 * 5, "the header outgrew its reserved space");
  // create_file() placed the header; this process sees the live one.
  header_ = std::launder(reinterpret_cast<Header*>(p));
  slots_ = reinterpret_cast<float*>(p + align_up(64 * 5));
}

ShmTpGroup::~ShmTpGroup() { munmap(base_, bytes_); }

void ShmTpGroup::abort(std::string_view why) {
  if (header_->aborted.exchange(1) == 0) {
    const size_t n = std::min(why.size(), sizeof(header_->why) - 1);
    std::memcpy(header_->why, why.data(), n);
    header_->why[n] = '\0';
  }
}

bool ShmTpGroup::aborted() const { return header_->aborted.load() != 0; }

void ShmTpGroup::barrier(const std::function<bool()>& alive) {
  const uint32_t generation = header_->generation.load(std::memory_order_acquire);
  if (header_->arrived.fetch_add(1, std::memory_order_acq_rel) + 1 ==
      static_cast<uint32_t>(world_size_)) {
    header_->arrived.store(0, std::memory_order_relaxed);
    header_->generation.fetch_add(1, std::memory_order_release);
    return;
  }
  // Spin briefly (a step's ranks arrive close together), then yield, then
  // sleep, polling liveness so a dead peer ends the wait.
  for (uint64_t spins = 0; header_->generation.load(std::memory_order_acquire) == generation;
       ++spins) {
    if (aborted())
      throw std::runtime_error(std::string("tensor-parallel group aborted: ") + header_->why);
    if (spins < 2000) continue;
    if ((spins & 63) == 0 && alive && !alive()) {
      throw std::runtime_error("a tensor-parallel rank died");
    }
    if (spins < 20000) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
}

ShmTpRank::ShmTpRank(std::shared_ptr<ShmTpGroup> group, int rank, std::function<bool()> alive)
    : group_(std::move(group)), rank_(rank), alive_(std::move(alive)) {}

void ShmTpRank::all_reduce_sum(std::span<float> data) {
  const int world = group_->world_size();
  if (world == 1) return;
  // Chunks of max_floats keep any tensor within the shared slots.
  for (size_t begin = 0; begin < data.size(); begin += group_->max_floats()) {
    const size_t n = std::min(group_->max_floats(), data.size() - begin);
    std::memcpy(group_->slot(rank_), data.data() + begin, n * sizeof(float));
    group_->barrier(alive_);
    float* out = data.data() + begin;
    std::memcpy(out, group_->slot(0), n * sizeof(float));
    for (int r = 1; r < world; ++r) {
      const float* in = group_->slot(r);
      for (size_t i = 0; i < n; ++i) out[i] += in[i];
    }
    group_->barrier(alive_);  // nobody refills a slot before everyone has read it
  }
}

}  // namespace waypoint
