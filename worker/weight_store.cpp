#include "worker/weight_store.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace waypoint {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string range_str(int64_t begin, int64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + ")";
}

}  // namespace

Result<WeightStore> WeightStore::open(const fs::path& model_dir) {
  const std::string dir = model_dir.string();
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) return Error{dir + ": not a directory"};

  WeightStore store;
  store.source_ = dir;
  const fs::path single = model_dir / "model.safetensors";
  const fs::path index = model_dir / "model.safetensors.index.json";

  if (fs::exists(single, ec)) {
    auto f = SafetensorsFile::open(single);
    if (!f) return f.error();
    store.missing_in_ = "model.safetensors";
    store.files_.push_back(std::move(*f));
    for (const auto& t : store.files_[0].tensors()) store.entries_[t.name] = Entry{0, &t, nullptr};
    return store;
  }
  if (!fs::exists(index, ec)) {
    return Error{dir + ": no model.safetensors or model.safetensors.index.json"};
  }

  const std::string isrc = index.string();
  std::ifstream in(index, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) return Error{isrc + ": cannot be read"};
  const json j = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error{isrc + ": not valid JSON"};
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
    return Error{isrc + ": no \"weight_map\" object"};
  }
  std::map<std::string, std::string> weight_map;
  std::set<std::string> shards;
  for (const auto& [name, shard] : j["weight_map"].items()) {
    if (!shard.is_string()) return Error{isrc + ": weight_map '" + name + "' is not a file name"};
    const auto file = shard.get<std::string>();
    // A shard is a file beside the index; anything else would read outside the model.
    const fs::path p(file);
    if (file.empty() || p.has_parent_path() || p.is_absolute() || file == "." || file == "..") {
      return Error{isrc + ": weight_map '" + name + "' names '" + file +
                   "', which is not a plain file name"};
    }
    weight_map[name] = file;
    shards.insert(file);
  }
  if (weight_map.empty()) return Error{isrc + ": weight_map is empty"};

  std::map<std::string, size_t> shard_index;
  for (const auto& shard : shards) {
    const fs::path p = model_dir / shard;
    if (!fs::exists(p, ec)) {
      return Error{p.string() + ": not found (a shard named in model.safetensors.index.json)"};
    }
    auto f = SafetensorsFile::open(p);
    if (!f) return f.error();
    shard_index[shard] = store.files_.size();
    store.files_.push_back(std::move(*f));
  }
  for (const auto& [name, shard] : weight_map) {
    const size_t i = shard_index.at(shard);
    const SafetensorsTensor* t = store.files_[i].find(name);
    if (t == nullptr) {
      return Error{store.files_[i].path().string() + ": no tensor '" + name +
                   "', which model.safetensors.index.json places there"};
    }
    store.entries_[name] = Entry{i, t, nullptr};
  }
  store.missing_in_ = "model.safetensors.index.json";
  return store;
}

WeightStore::WeightStore(std::string source, std::map<std::string, F32Tensor> tensors)
    : source_(std::move(source)), missing_in_("the checkpoint"), memory_(std::move(tensors)) {
  for (const auto& [name, t] : memory_) entries_[name] = Entry{0, nullptr, &t};
}

bool WeightStore::contains(const std::string& name) const { return entries_.count(name) != 0; }

std::optional<std::vector<int64_t>> WeightStore::shape(const std::string& name) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  return it->second.memory ? it->second.memory->shape : it->second.tensor->shape;
}

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [name, e] : entries_) out.push_back(name);
  return out;
}

std::string WeightStore::where(const Entry& e) const {
  return e.memory ? source_ : files_[e.file].path().string();
}

Result<const WeightStore::Entry*> WeightStore::lookup(const std::string& name,
                                                      const std::vector<int64_t>& shape) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) {
    return Error{source_ + ": no tensor '" + name + "' in " + missing_in_};
  }
  const Entry& e = it->second;
  const auto& actual = e.memory ? e.memory->shape : e.tensor->shape;
  if (actual != shape) {
    return Error{where(e) + ": tensor '" + name + "' has shape " + shape_to_string(actual) +
                 ", expected " + shape_to_string(shape)};
  }
  return &e;
}

void WeightStore::convert(const Entry& e, int64_t offset, int64_t n, float* dst) const {
  if (e.memory) {
    std::copy_n(e.memory->data.begin() + offset, n, dst);
    return;
  }
  const auto bytes = files_[e.file].bytes(*e.tensor);
  const size_t es = dtype_size(e.tensor->dtype);
  convert_to_f32(e.tensor->dtype, bytes.data() + static_cast<size_t>(offset) * es, dst,
                 static_cast<size_t>(n));
}

Result<std::vector<float>> WeightStore::read_f32(const std::string& name,
                                                 const std::vector<int64_t>& shape) const {
  auto e = lookup(name, shape);
  if (!e) return e.error();
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> out(static_cast<size_t>(n));
  convert(**e, 0, n, out.data());
  return out;
}

Result<std::vector<float>> WeightStore::read_f32_rows(const std::string& name,
                                                      const std::vector<int64_t>& shape,
                                                      int64_t begin, int64_t end) const {
  auto e = lookup(name, shape);
  if (!e) return e.error();
  if (shape.size() != 1 && shape.size() != 2) {
    return Error{where(**e) + ": tensor '" + name + "' has shape " + shape_to_string(shape) +
                 "; row shards need a 1-D or 2-D tensor"};
  }
  const int64_t rows = shape[0];
  const int64_t cols = shape.size() == 2 ? shape[1] : 1;
  if (begin < 0 || begin > end || end > rows) {
    return Error{where(**e) + ": tensor '" + name + "': rows " + range_str(begin, end) +
                 " are outside its " + std::to_string(rows) + " rows"};
  }
  std::vector<float> out(static_cast<size_t>((end - begin) * cols));
  convert(**e, begin * cols, (end - begin) * cols, out.data());
  return out;
}

Result<std::vector<float>> WeightStore::read_f32_cols(const std::string& name,
                                                      const std::vector<int64_t>& shape,
                                                      int64_t begin, int64_t end) const {
  auto e = lookup(name, shape);
  if (!e) return e.error();
  if (shape.size() != 2) {
    return Error{where(**e) + ": tensor '" + name + "' has shape " + shape_to_string(shape) +
                 "; column shards need a 2-D tensor"};
  }
  const int64_t rows = shape[0];
  const int64_t cols = shape[1];
  if (begin < 0 || begin > end || end > cols) {
    return Error{where(**e) + ": tensor '" + name + "': columns " + range_str(begin, end) +
                 " are outside its " + std::to_string(cols) + " columns"};
  }
  const int64_t width = end - begin;
  std::vector<float> out(static_cast<size_t>(rows * width));
  for (int64_t r = 0; r < rows; ++r) convert(**e, r * cols + begin, width, out.data() + r * width);
  return out;
}

}  // namespace waypoint
