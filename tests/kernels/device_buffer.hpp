#pragma once
// A typed device allocation for tests, freed on scope exit.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace waypoint::kernels::testing {

inline void check_cuda(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
  }
}

template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t size) : size_(size) {
    void* p = nullptr;
    check_cuda(cudaMalloc(&p, size * sizeof(T)), "cudaMalloc");
    ptr_.reset(static_cast<T*>(p));
  }

  explicit DeviceBuffer(std::span<const T> host) : DeviceBuffer(host.size()) {
    check_cuda(cudaMemcpy(get(), host.data(), host.size_bytes(), cudaMemcpyHostToDevice),
               "cudaMemcpy to device");
  }

  T* get() const { return ptr_.get(); }

  // Synchronous, so it also surfaces errors from kernels queued before it.
  std::vector<T> to_host() const {
    std::vector<T> host(size_);
    check_cuda(cudaMemcpy(host.data(), get(), size_ * sizeof(T), cudaMemcpyDeviceToHost),
               "cudaMemcpy to host");
    return host;
  }

 private:
  struct Free {
    void operator()(T* p) const noexcept { cudaFree(p); }
  };
  std::size_t size_;
  std::unique_ptr<T, Free> ptr_;
};

}  // namespace waypoint::kernels::testing
