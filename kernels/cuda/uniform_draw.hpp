#pragma once
// The one uniform number behind each sampled token, as a pure function of the
// request's seed and of how many tokens it has sampled before (its offset). Being a
// function rather than a generator's next output, it needs no per-request state on
// the device and no order among requests: a seeded request draws the same numbers
// whatever else shares its batch, and a test can predict every draw on the host.
//
// The same code runs on the host (g++) and in the sampling kernel (nvcc), so it may
// include no CUDA headers; under nvcc the functions are marked __host__ __device__.
#include <cstdint>

#ifdef __CUDACC__
#define WAYPOINT_UNIFORM_DRAW_HD __host__ __device__
#else
#define WAYPOINT_UNIFORM_DRAW_HD
#endif

namespace waypoint::kernels::cuda {

// SplitMix64's output step, with the same constants as base/splitmix64.hpp (a test
// checks they agree). Repeated here because that header's constexpr functions are
// host-only to nvcc, and the kernels library does not depend on proto.
WAYPOINT_UNIFORM_DRAW_HD constexpr std::uint64_t draw_splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Draw number `offset` of the SplitMix64 stream that starts from the hashed seed:
// SplitMix64 advances its state by the golden gamma per output, so the offset-th
// output is splitmix64(start + offset * gamma). Hashing the seed first puts the
// streams of nearby seeds (0, 1, 2, ...) far apart in the state space.
//
// The top 53 bits become a double in [0, 1). A double, not a float: rounding 53 bits
// to a float's 24 could give exactly 1.0, which would fall off the end of the CDF.
WAYPOINT_UNIFORM_DRAW_HD constexpr double uniform_from(std::uint64_t seed, std::uint64_t offset) {
  const std::uint64_t start = draw_splitmix64(seed);
  const std::uint64_t bits = draw_splitmix64(start + offset * 0x9e3779b97f4a7c15ULL);
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

}  // namespace waypoint::kernels::cuda

#undef WAYPOINT_UNIFORM_DRAW_HD
