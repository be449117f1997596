#pragma once
// SplitMix64 (Steele, Lea and Flood): one step of a counter-based generator.
// Consecutive inputs give well-spread, never-repeating outputs, so hashing a
// counter or a (seed, index) pair yields reproducible draws without a shared
// generator to lock or to advance in order.
#include <cstdint>

namespace waypoint {

constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The top 53 bits as a double, uniform in [0, 1).
constexpr double unit_interval(uint64_t bits) {
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

}  // namespace waypoint
