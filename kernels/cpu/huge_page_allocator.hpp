#pragma once
// An allocator for weight matrices: a buffer of 2 MiB or more is aligned to
// 2 MiB and marked MADV_HUGEPAGE, so Linux backs it with transparent huge
// pages where the system allows them ("madvise" mode, the common default).
// Why: a decode step streams every weight once, and with 4 KiB pages a
// 2.5 GB model crosses 600,000 pages per token; on this machine huge pages
// stream 2-13 % faster (docs/benchmarks.md). Smaller buffers come from the
// ordinary heap.
#include <sys/mman.h>

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

namespace waypoint::kernels::cpu {

template <class T>
struct HugePageAllocator {
  using value_type = T;
  static constexpr size_t kHugePage = size_t{2} << 20;

  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) {}

  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    if (bytes < kHugePage) return std::allocator<T>{}.allocate(n);
    const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    void* p = std::aligned_alloc(kHugePage, rounded);
    if (p == nullptr) throw std::bad_alloc();
    // Advice only: where THP is off, the buffer is ordinary pages.
    (void)madvise(p, rounded, MADV_HUGEPAGE);
    return static_cast<T*>(p);
  }

  void deallocate(T* p, size_t n) {
    if (n * sizeof(T) < kHugePage) return std::allocator<T>{}.deallocate(p, n);
    std::free(p);
  }

  template <class U>
  bool operator==(const HugePageAllocator<U>&) const {
    return true;
  }
};

}  // namespace waypoint::kernels::cpu
