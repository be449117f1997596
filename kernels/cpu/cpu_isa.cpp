#include "kernels/cpu/cpu_isa.hpp"

#include <algorithm>
#include <cstdlib>

namespace waypoint::kernels::cpu {

CpuIsa supported_cpu_isa() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  if (avx512 && __builtin_cpu_supports("avx512bf16")) return CpuIsa::kAvx512Bf16;
  if (avx512) return CpuIsa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CpuIsa::kAvx2;
#endif
  return CpuIsa::kScalar;
}

CpuIsa detect_cpu_isa() {
  const CpuIsa supported = supported_cpu_isa();
  const char* cap = std::getenv("WAYPOINT_CPU_ISA");
  if (cap == nullptr) return supported;
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512, CpuIsa::kAvx512Bf16}) {
    if (std::string(cap) == to_string(isa)) return std::min(isa, supported);
  }
  return supported;
}

const char* to_string(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kScalar:
      return "scalar";
    case CpuIsa::kAvx2:
      return "avx2";
    case CpuIsa::kAvx512:
      return "avx512";
    case CpuIsa::kAvx512Bf16:
      return "avx512_bf16";
  }
  return "scalar";
}

}  // namespace waypoint::kernels::cpu
