#pragma once
// Named model weights, read as f32 with their shapes checked. Backed either by
// memory-mapped safetensors files (a Hugging Face model directory, single-file or
// sharded through model.safetensors.index.json) or by f32 tensors held in memory
// (checkpoints in other formats, converted at load time).
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "worker/safetensors_file.hpp"

namespace waypoint {

struct F32Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;  // row-major, product(shape) elements
};

class WeightStore {
 public:
  // DIR/model.safetensors, or DIR/model.safetensors.index.json and every shard it names.
  static Result<WeightStore> open(const std::filesystem::path& model_dir);

  // In-memory tensors; SOURCE (a path) starts error messages. Each tensor's data size
  // must match its shape (checked by the caller; a mismatch is a programming error).
  WeightStore(std::string source, std::map<std::string, F32Tensor> tensors);

  WeightStore(WeightStore&&) noexcept = default;
  WeightStore& operator=(WeightStore&&) noexcept = default;
  WeightStore(const WeightStore&) = delete;
  WeightStore& operator=(const WeightStore&) = delete;
  ~WeightStore() = default;

  bool contains(const std::string& name) const;
  std::optional<std::vector<int64_t>> shape(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted

  // Reads a tensor as f32 after checking its shape; errors name file, tensor, expected and
  // actual shape.
  Result<std::vector<float>> read_f32(const std::string& name,
                                      const std::vector<int64_t>& shape) const;
  // Tensor-parallel shards of a 2-D [rows, cols] tensor: rows [begin,end) (column-parallel
  // layers store output features as rows), or columns [begin,end) (row-parallel). For a
  // 1-D tensor, read_f32_rows takes elements [begin,end) (bias shards).
  Result<std::vector<float>> read_f32_rows(const std::string& name,
                                           const std::vector<int64_t>& shape, int64_t begin,
                                           int64_t end) const;
  Result<std::vector<float>> read_f32_cols(const std::string& name,
                                           const std::vector<int64_t>& shape, int64_t begin,
                                           int64_t end) const;

 private:
  // Where a tensor lives: a file's entry, or an in-memory tensor.
  struct Entry {
    size_t file = 0;  // index into files_
    const SafetensorsTensor* tensor = nullptr;
    const F32Tensor* memory = nullptr;
  };

  WeightStore() = default;
  Result<const Entry*> lookup(const std::string& name, const std::vector<int64_t>& shape) const;
  std::string where(const Entry& e) const;  // the file (or source) holding E
  // Converts elements [offset, offset + n) of E's tensor to f32 at DST.
  void convert(const Entry& e, int64_t offset, int64_t n, float* dst) const;

  std::string source_;      // the model directory or checkpoint path
  std::string missing_in_;  // "model.safetensors", "model.safetensors.index.json", ...
  std::vector<SafetensorsFile> files_;
  // node-based so Entry::memory stays valid when the store moves
  std::map<std::string, F32Tensor> memory_;
  std::map<std::string, Entry> entries_;
};

}  // namespace waypoint
