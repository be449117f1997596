#pragma once
// Writes .safetensors files the way the reference implementation does: header keys
// sorted, the header padded with spaces so the data starts 8-byte aligned, tensors laid
// out by descending element size then name (so every tensor is aligned for its type).
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "worker/dtype.hpp"

namespace waypoint {

struct TensorToWrite {
  std::string name;
  std::vector<int64_t> shape;
  std::span<const float> data;  // not owned; product(shape) elements, row-major
  DType dtype = DType::F32;     // stored type; F16/BF16 round to nearest even
};

// Writes one file (through a temporary beside it, renamed into place, so a reader never
// sees half a file). METADATA becomes "__metadata__" when non-empty.
Result<void> write_safetensors(const std::filesystem::path& file,
                               std::span<const TensorToWrite> tensors,
                               const std::map<std::string, std::string>& metadata = {});

// Writes a model's weights into DIR. MAX_SHARD_BYTES == 0: one model.safetensors.
// Otherwise shards model-0000i-of-0000N.safetensors, each holding whole tensors
// (in name order) up to about MAX_SHARD_BYTES of data (a larger tensor gets a shard of
// its own), plus model.safetensors.index.json {"metadata": {"total_size"}, "weight_map"}.
Result<void> write_model_safetensors(const std::filesystem::path& dir,
                                     std::span<const TensorToWrite> tensors,
                                     uint64_t max_shard_bytes = 0,
                                     const std::map<std::string, std::string>& metadata = {});

}  // namespace waypoint
