#pragma once
// Matrix products on the device through cuBLAS: bf16 inputs, f32 accumulation. The
// weights are in PyTorch's nn.Linear layout, row-major [out_features, in_features],
// as checkpoints store them, so no transposed copy is ever made. All pointers are
// device pointers; calls are asynchronous on the stream given at construction.
#include <cstddef>

#include "kernels/bf16.hpp"
#include "kernels/cuda/stream.hpp"

// cublasHandle_t is cublasContext*; declared here so that this header needs no cuBLAS
// headers, as stream.hpp does for the stream.
struct cublasContext;

namespace waypoint::kernels::cuda {

// Owns one cuBLAS handle, bound to one stream. A handle is not safe to use from two
// host threads at once; give each thread its own Gemm.
class Gemm {
 public:
  // Throws std::runtime_error (with cuBLAS's status string) if cuBLAS cannot start.
  explicit Gemm(Stream stream);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;
  // A moved-from Gemm may only be destroyed or assigned to; calling it throws
  // std::logic_error.
  Gemm(Gemm&& other) noexcept;
  Gemm& operator=(Gemm&& other) noexcept;

  // out[m, n] = a[m, k] · w[n, k]^T, all row-major, out rounded once to bf16 from the
  // f32 accumulator; k = 0 writes zeros. Throws std::runtime_error if cuBLAS rejects
  // the call, and std::invalid_argument if a size does not fit cuBLAS's int.
  void linear(bf16* out, const bf16* a, const bf16* w, std::size_t m, std::size_t n, std::size_t k);
  // The same with the f32 accumulator as the output (logits for sampling).
  void linear_f32(float* out, const bf16* a, const bf16* w, std::size_t m, std::size_t n,
                  std::size_t k);

 private:
  cublasContext* handle_ = nullptr;
  Stream stream_ = nullptr;
};

}  // namespace waypoint::kernels::cuda
