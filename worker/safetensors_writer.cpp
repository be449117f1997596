#include "worker/safetensors_writer.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "kernels/bf16.hpp"

namespace waypoint {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

uint64_t numel(const std::vector<int64_t>& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

uint64_t stored_bytes(const TensorToWrite& t) { return numel(t.shape) * dtype_size(t.dtype); }

// Encodes DATA as DTYPE into OUT (little-endian, as safetensors stores it).
void encode(DType dtype, std::span<const float> data, std::vector<char>& out) {
  out.resize(data.size() * dtype_size(dtype));
  char* p = out.data();
  for (float f : data) {
    switch (dtype) {
      case DType::F32:
        std::memcpy(p, &f, 4);
        p += 4;
        break;
      case DType::F16: {
        const uint16_t h = f32_to_f16(f);
        std::memcpy(p, &h, 2);
        p += 2;
        break;
      }
      case DType::BF16: {
        const uint16_t b = kernels::float_to_bf16(f).bits;
        std::memcpy(p, &b, 2);
        p += 2;
        break;
      }
    }
  }
}

// Writes the file at TMP; the caller renames it.
Result<void> write_to(const fs::path& tmp, const std::string& src,
                      const std::vector<const TensorToWrite*>& order, const std::string& header) {
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) return Error{src + ": cannot be created"};
  const uint64_t n = header.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
  out.write(reinterpret_cast<const char*>(len), 8);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  std::vector<char> buf;
  // Encode in slices so a large tensor never needs a second full-size copy.
  constexpr size_t kSlice = 1 << 20;
  for (const auto* t : order) {
    for (size_t i = 0; i < t->data.size(); i += kSlice) {
      encode(t->dtype, t->data.subspan(i, std::min(kSlice, t->data.size() - i)), buf);
      out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
    }
  }
  out.close();
  if (!out) return Error{src + ": write failed"};
  return {};
}

}  // namespace

Result<void> write_safetensors(const fs::path& file, std::span<const TensorToWrite> tensors,
                               const std::map<std::string, std::string>& metadata) {
  const std::string src = file.string();
  std::set<std::string> seen;
  for (const auto& t : tensors) {
    if (t.name == "__metadata__" || t.name.empty()) {
      return Error{src + ": '" + t.name + "' cannot name a tensor"};
    }
    if (!seen.insert(t.name).second) return Error{src + ": tensor '" + t.name + "' given twice"};
    for (int64_t d : t.shape) {
      if (d < 0) return Error{src + ": tensor '" + t.name + "' has a negative dimension"};
    }
    if (numel(t.shape) != t.data.size()) {
      return Error{src + ": tensor '" + t.name + "' has " + std::to_string(t.data.size()) +
                   " values but its shape needs " + std::to_string(numel(t.shape))};
    }
  }

  std::vector<const TensorToWrite*> order;
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    const size_t sa = dtype_size(a->dtype), sb = dtype_size(b->dtype);
    return sa != sb ? sa > sb : a->name < b->name;
  });

  json header = json::object();  // std::map underneath: keys come out sorted
  uint64_t offset = 0;
  for (const auto* t : order) {
    const uint64_t size = stored_bytes(*t);
    header[t->name] = {{"dtype", std::string(dtype_name(t->dtype))},
                       {"shape", t->shape},
                       {"data_offsets", {offset, offset + size}}};
    offset += size;
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  fs::path tmp = file;
  tmp += ".tmp";
  if (auto r = write_to(tmp, src, order, text); !r) {
    std::error_code ec;
    fs::remove(tmp, ec);
    return r;
  }
  std::error_code ec;
  fs::rename(tmp, file, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Error{src + ": cannot be renamed into place: " + ec.message()};
  }
  return {};
}

Result<void> write_model_safetensors(const fs::path& dir, std::span<const TensorToWrite> tensors,
                                     uint64_t max_shard_bytes,
                                     const std::map<std::string, std::string>& metadata) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error{dir.string() + ": cannot be created: " + ec.message()};
  if (max_shard_bytes == 0) return write_safetensors(dir / "model.safetensors", tensors, metadata);

  std::vector<const TensorToWrite*> sorted;
  for (const auto& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->name < b->name; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i]->name == sorted[i - 1]->name) {
      return Error{dir.string() + ": tensor '" + sorted[i]->name + "' given twice"};
    }
  }
  std::vector<std::vector<TensorToWrite>> shards;
  uint64_t in_shard = 0;
  uint64_t total = 0;
  for (const auto* t : sorted) {
    const uint64_t size = stored_bytes(*t);
    if (shards.empty() || (in_shard > 0 && in_shard + size > max_shard_bytes)) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(*t);  // copies the name and shape only; data is a view
    in_shard += size;
    total += size;
  }

  char name_buf[64];
  json weight_map = json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    std::snprintf(name_buf, sizeof(name_buf), "model-%05zu-of-%05zu.safetensors", i + 1,
                  shards.size());
    if (auto r = write_safetensors(dir / name_buf, shards[i], metadata); !r) return r;
    for (const auto& t : shards[i]) weight_map[t.name] = name_buf;
  }
  const json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  const fs::path index_path = dir / "model.safetensors.index.json";
  std::ofstream out(index_path, std::ios::trunc);
  out << index.dump(2) << "\n";
  out.close();
  if (!out) return Error{index_path.string() + ": write failed"};
  return {};
}

}  // namespace waypoint
