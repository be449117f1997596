#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <library_types.h>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

#include "kernels/cuda/gemm.hpp"
#include "kernels/cuda/launch.cuh"

namespace waypoint::kernels::cuda {
namespace {

void check_cublas(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw std::runtime_error(std::string(what) + " failed: " + cublasGetStatusString(status));
  }
}

// Row-major out[m, n] = a[m, k] · w[n, k]^T in cuBLAS's column-major terms.
//
// Read column-major, a row-major [r, c] matrix with leading dimension c is its
// transpose, [c, r], with the same leading dimension. So cuBLAS sees
//   out (row-major [m, n]) as C = out^T, column-major [n, m], ldc = n
//   w   (row-major [n, k]) as W = w^T,   column-major [k, n], ld  = k
//   a   (row-major [m, k]) as A = a^T,   column-major [k, m], ld  = k
// and out = a · w^T  <=>  out^T = w · a^T  <=>  C = W^T · A.
// cublasGemmEx computes C[M, N] = op(A_)[M, K] · op(B_)[K, N]; taking A_ = W
// transposed (W^T is [n, k]) and B_ = A as is ([k, m]) gives M = n, N = m, K = k,
// lda = ldb = k, ldc = n. This "TN" form is the one cuBLAS's tensor-core kernels
// prefer, and it needs no copy of either operand.
void linear_impl(cublasContext* handle, Stream stream, void* out, cudaDataType out_type,
                 std::size_t out_elem_size, const bf16* a, const bf16* w, std::size_t m,
                 std::size_t n, std::size_t k, const char* name) {
  if (handle == nullptr) {
    throw std::logic_error(std::string(name) + ": called on a moved-from Gemm");
  }
  const int mi = detail::checked_int(m, name, "m");
  const int ni = detail::checked_int(n, name, "n");
  const int ki = detail::checked_int(k, name, "k");
  if (mi == 0 || ni == 0) return;
  if (ki == 0) {
    // An empty sum: out is all zeros. cuBLAS would reject the leading dimension 0,
    // and all-zero bits are 0.0 in both bf16 and f32.
    const cudaError_t err = cudaMemsetAsync(out, 0, m * n * out_elem_size, stream);
    if (err != cudaSuccess) {
      throw std::runtime_error(std::string(name) +
                               ": cudaMemsetAsync failed: " + cudaGetErrorString(err));
    }
    return;
  }
  const float alpha = 1.0f;  // f32, the type CUBLAS_COMPUTE_32F takes its scalars in
  const float beta = 0.0f;   // out is not read
  check_cublas(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, ni, mi, ki, &alpha, w, CUDA_R_16BF,
                            ki, a, CUDA_R_16BF, ki, &beta, out, out_type, ni, CUBLAS_COMPUTE_32F,
                            CUBLAS_GEMM_DEFAULT),
               name);
}

}  // namespace

// cuBLAS allocates its own workspace for the handle. That is fine for eager launches;
// capturing these calls in a CUDA graph would want one set with cublasSetWorkspace.
Gemm::Gemm(Stream stream) : stream_(stream) {
  cublasHandle_t handle = nullptr;
  check_cublas(cublasCreate(&handle), "cublasCreate");
  try {
    check_cublas(cublasSetStream(handle, stream), "cublasSetStream");
    // By default cuBLAS may add split-k partial results in the output type, which
    // for a bf16 output rounds each partial sum to 8 bits of mantissa. Keep the
    // reduction in f32, so that "f32 accumulation" holds for every k.
    check_cublas(cublasSetMathMode(handle, static_cast<cublasMath_t>(
                                               CUBLAS_DEFAULT_MATH |
                                               CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)),
                 "cublasSetMathMode");
  } catch (...) {
    cublasDestroy(handle);
    throw;
  }
  handle_ = handle;
}

Gemm::~Gemm() {
  // Nothing to do with a failure here; a destructor must not throw.
  if (handle_ != nullptr) cublasDestroy(handle_);
}

Gemm::Gemm(Gemm&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)), stream_(other.stream_) {}

Gemm& Gemm::operator=(Gemm&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) cublasDestroy(handle_);
    handle_ = std::exchange(other.handle_, nullptr);
    stream_ = other.stream_;
  }
  return *this;
}

void Gemm::linear(bf16* out, const bf16* a, const bf16* w, std::size_t m, std::size_t n,
                  std::size_t k) {
  linear_impl(handle_, stream_, out, CUDA_R_16BF, sizeof(bf16), a, w, m, n, k, "Gemm::linear");
}

void Gemm::linear_f32(float* out, const bf16* a, const bf16* w, std::size_t m, std::size_t n,
                      std::size_t k) {
  linear_impl(handle_, stream_, out, CUDA_R_32F, sizeof(float), a, w, m, n, k, "Gemm::linear_f32");
}

}  // namespace waypoint::kernels::cuda
