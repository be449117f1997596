#pragma once
// The stream argument of the CUDA launch functions, declared without CUDA headers so
// that host code built by g++ alone can include them. cudaStream_t is CUstream_st*,
// so a cudaStream_t passes as is, and nullptr means the default stream.
struct CUstream_st;

namespace waypoint::kernels::cuda {

using Stream = CUstream_st*;

}  // namespace waypoint::kernels::cuda
