#pragma once
// Kernels take sizes explicitly and check them once per call: a mismatch is a
// caller bug, and reading past a buffer would hide it.
#include <cstddef>
#include <stdexcept>
#include <string>

namespace waypoint::kernels::cpu::detail {

inline void require_size(std::size_t actual, std::size_t expected, const char* what) {
  if (actual != expected) {
    throw std::invalid_argument(std::string(what) + ": size " + std::to_string(actual) +
                                ", expected " + std::to_string(expected));
  }
}

inline void require(bool condition, const char* message) {
  if (!condition) throw std::invalid_argument(message);
}

}  // namespace waypoint::kernels::cpu::detail
