#pragma once
// Device memory, page-locked host memory and streams that release themselves, and
// the one way a CUDA runtime error becomes an exception. Everything the CUDA
// worker allocates goes through these, so a failed step or a failed start never
// leaks device memory the next attempt would need.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>

namespace waypoint {

// Throws std::runtime_error "WHAT: <CUDA's reason>" unless `err` is success.
inline void check_cuda(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
  }
}

// `size` elements of T on the current device; empty when size is 0.
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t size, const char* what = "cudaMalloc") : size_(size) {
    if (size == 0) return;
    void* p = nullptr;
    check_cuda(cudaMalloc(&p, size * sizeof(T)), what);
    ptr_.reset(static_cast<T*>(p));
  }

  T* get() const { return ptr_.get(); }
  std::size_t size() const { return size_; }
  std::size_t bytes() const { return size_ * sizeof(T); }

 private:
  struct Free {
    void operator()(T* p) const noexcept { cudaFree(p); }
  };
  std::size_t size_ = 0;
  std::unique_ptr<T, Free> ptr_;
};

// Page-locked host memory: copies from it are truly asynchronous, and one copy of a
// step's metadata costs one transfer rather than one per array.
template <class T>
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(std::size_t size) : size_(size) {
    if (size == 0) return;
    void* p = nullptr;
    check_cuda(cudaMallocHost(&p, size * sizeof(T)), "cudaMallocHost");
    ptr_.reset(static_cast<T*>(p));
  }

  T* get() const { return ptr_.get(); }
  std::size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(T* p) const noexcept { cudaFreeHost(p); }
  };
  std::size_t size_ = 0;
  std::unique_ptr<T, Free> ptr_;
};

// A non-blocking stream: the model's work never serializes with the legacy
// default stream, which other libraries may use.
class CudaStream {
 public:
  CudaStream() {
    cudaStream_t s = nullptr;
    check_cuda(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
    stream_.reset(s);
  }
  cudaStream_t get() const { return stream_.get(); }
  void synchronize() const { check_cuda(cudaStreamSynchronize(get()), "cudaStreamSynchronize"); }

 private:
  struct Destroy {
    void operator()(cudaStream_t s) const noexcept { cudaStreamDestroy(s); }
  };
  std::unique_ptr<CUstream_st, Destroy> stream_;
};

}  // namespace waypoint
