#pragma once
// The vector instruction sets the CPU kernels dispatch on. One binary runs on
// any x86-64 machine: each kernel is compiled for every level, and the level
// is read from the CPU at run time (never from the build machine).
#include <string>

namespace waypoint::kernels::cpu {

enum class CpuIsa {
  kScalar,      // portable C++
  kAvx2,        // AVX2 + FMA
  kAvx512,      // AVX-512 F/BW/VL/DQ
  kAvx512Bf16,  // the above + AVX512-BF16 (vdpbf16ps)
};

// What this CPU supports, capped by WAYPOINT_CPU_ISA (scalar, avx2, avx512,
// avx512_bf16) when set, so that every path can be exercised on one machine.
CpuIsa detect_cpu_isa();
CpuIsa supported_cpu_isa();  // without the cap
const char* to_string(CpuIsa isa);

}  // namespace waypoint::kernels::cpu
