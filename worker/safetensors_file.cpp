#include "worker/safetensors_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "base/unique_fd.hpp"

namespace waypoint {
namespace {

using nlohmann::json;

// The reference implementation refuses headers above 100 MB; a length beyond that is
// far more likely a corrupt file than a real header.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

std::optional<std::vector<int64_t>> parse_shape(const json& v) {
  if (!v.is_array()) return std::nullopt;
  std::vector<int64_t> shape;
  for (const json& d : v) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0) return std::nullopt;
    shape.push_back(d.get<int64_t>());
  }
  return shape;
}

// Element count, or nullopt on overflow.
std::optional<uint64_t> checked_numel(const std::vector<int64_t>& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    const auto u = static_cast<uint64_t>(d);
    if (u != 0 && n > std::numeric_limits<uint64_t>::max() / u) return std::nullopt;
    n *= u;
  }
  return n;
}

}  // namespace

int64_t SafetensorsTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_to_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Result<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  const std::string src = path.string();
  auto bad = [&](const std::string& problem) { return Error{src + ": " + problem}; };

  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return bad(errno == ENOENT ? std::string("not found") : std::string(std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return bad(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return bad("not a regular file");
  const auto file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8) {
    return bad("too short for a safetensors header (" + std::to_string(file_size) + " bytes)");
  }

  SafetensorsFile f;
  f.path_ = path;
  f.map_ = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (f.map_ == MAP_FAILED) {
    f.map_ = nullptr;
    return bad(std::string("mmap failed: ") + std::strerror(errno));
  }
  f.map_size_ = file_size;
  const auto* base = static_cast<const unsigned char*>(f.map_);

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | base[i];
  if (header_len > file_size - 8) {
    return bad("header length " + std::to_string(header_len) + " runs past the end of the file (" +
               std::to_string(file_size) + " bytes); not a safetensors file, or truncated");
  }
  if (header_len > kMaxHeaderBytes) {
    return bad("header length " + std::to_string(header_len) + " exceeds the 100 MB limit");
  }
  f.data_start_ = 8 + header_len;
  const uint64_t data_size = file_size - f.data_start_;

  const auto* hbegin = reinterpret_cast<const char*>(base + 8);
  const json header = json::parse(hbegin, hbegin + header_len, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded()) return bad("header is not valid JSON");
  if (!header.is_object()) return bad("header is not a JSON object");

  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) return bad("__metadata__ is not an object");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) return bad("__metadata__ '" + k + "' is not a string");
        f.metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    auto bad_tensor = [&](const std::string& problem) {
      return bad("tensor '" + name + "': " + problem);
    };
    if (!entry.is_object()) return bad_tensor("entry is not an object");
    if (!entry.contains("dtype") || !entry["dtype"].is_string()) return bad_tensor("no dtype");
    const auto dtype_str = entry["dtype"].get<std::string>();
    const auto dtype = parse_dtype(dtype_str);
    if (!dtype) {
      return bad_tensor("unsupported dtype '" + dtype_str + "' (supported: F32, F16, BF16)");
    }
    const auto shape = entry.contains("shape") ? parse_shape(entry["shape"]) : std::nullopt;
    if (!shape) return bad_tensor("shape must be a list of non-negative integers");
    if (!entry.contains("data_offsets") || !entry["data_offsets"].is_array() ||
        entry["data_offsets"].size() != 2 || !entry["data_offsets"][0].is_number_unsigned() ||
        !entry["data_offsets"][1].is_number_unsigned()) {
      return bad_tensor("data_offsets must be [begin, end] with non-negative integers");
    }
    SafetensorsTensor t;
    t.name = name;
    t.dtype = *dtype;
    t.shape = *shape;
    t.begin = entry["data_offsets"][0].get<uint64_t>();
    t.end = entry["data_offsets"][1].get<uint64_t>();
    const std::string range = "[" + std::to_string(t.begin) + ", " + std::to_string(t.end) + ")";
    if (t.begin > t.end) return bad_tensor("data_offsets " + range + " end before they begin");
    const auto numel = checked_numel(t.shape);
    if (!numel || *numel > std::numeric_limits<uint64_t>::max() / dtype_size(t.dtype)) {
      return bad_tensor("shape " + shape_to_string(t.shape) + " is too large");
    }
    const uint64_t want = *numel * dtype_size(t.dtype);
    if (t.end - t.begin != want) {
      return bad_tensor("data_offsets " + range + " hold " + std::to_string(t.end - t.begin) +
                        " bytes but " + std::string(dtype_name(t.dtype)) + " " +
                        shape_to_string(t.shape) + " needs " + std::to_string(want));
    }
    if (t.end > data_size) {
      return bad_tensor("data_offsets " + range + " run past the end of the data (" +
                        std::to_string(data_size) + " bytes); the file is truncated");
    }
    f.tensors_.push_back(std::move(t));
  }

  // Overlap check in offset order; empty tensors occupy nothing and cannot overlap.
  std::vector<const SafetensorsTensor*> by_offset;
  for (const auto& t : f.tensors_) {
    if (t.end > t.begin) by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const auto* a, const auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      return bad("tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name +
                 "' overlap in the data section");
    }
  }
  std::sort(f.tensors_.begin(), f.tensors_.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return f;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept
    : path_(std::move(other.path_)),
      map_(std::exchange(other.map_, nullptr)),
      map_size_(std::exchange(other.map_size_, 0)),
      data_start_(other.data_start_),
      tensors_(std::move(other.tensors_)),
      metadata_(std::move(other.metadata_)) {}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    map_ = std::exchange(other.map_, nullptr);
    map_size_ = std::exchange(other.map_size_, 0);
    data_start_ = other.data_start_;
    tensors_ = std::move(other.tensors_);
    metadata_ = std::move(other.metadata_);
  }
  return *this;
}

SafetensorsFile::~SafetensorsFile() { release(); }

void SafetensorsFile::release() noexcept {
  if (map_ != nullptr) ::munmap(map_, map_size_);
  map_ = nullptr;
  map_size_ = 0;
}

const SafetensorsTensor* SafetensorsFile::find(const std::string& name) const {
  const auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                                   [](const auto& t, const std::string& n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

std::span<const std::byte> SafetensorsFile::bytes(const SafetensorsTensor& t) const {
  const auto* base = static_cast<const std::byte*>(map_) + data_start_;
  return {base + t.begin, static_cast<size_t>(t.end - t.begin)};
}

}  // namespace waypoint
