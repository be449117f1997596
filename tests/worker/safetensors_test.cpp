#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/worker/scratch_dir.hpp"
#include "worker/safetensors_file.hpp"
#include "worker/safetensors_writer.hpp"
#include "worker/weight_store.hpp"

namespace waypoint {
namespace {

using testing::ScratchDir;
using testing::write_text;

uint16_t stored_u16(const SafetensorsFile& f, const std::string& name, size_t i) {
  const auto* t = f.find(name);
  uint16_t v;
  std::memcpy(&v, f.bytes(*t).data() + 2 * i, 2);
  return v;
}

TEST(Dtype, F16RoundsToNearestEvenOnHandValues) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xC000);
  EXPECT_EQ(f32_to_f16(0.1f), 0x2E66);
  EXPECT_EQ(f32_to_f16(1.0f + 0x1p-11f), 0x3C00);      // tie, down to even
  EXPECT_EQ(f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3C02);  // tie, up to even
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7BFF);             // largest half
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7C00);  // tie rounds to infinity
  EXPECT_EQ(f32_to_f16(0x1p-24f), 0x0001);  // smallest subnormal
  EXPECT_EQ(f32_to_f16(0x1p-25f), 0x0000);  // tie, down to zero
  EXPECT_EQ(f32_to_f16(1.5f * 0x1p-25f), 0x0001);
  EXPECT_EQ(f32_to_f16(3 * 0x1p-25f), 0x0002);  // tie, up to even
  EXPECT_EQ(f32_to_f16(0x1p-14f), 0x0400);      // smallest normal
  EXPECT_EQ(f32_to_f16(-INFINITY), 0xFC00);
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(NAN))));
  EXPECT_EQ(f16_to_f32(0x0001), 0x1p-24f);
  EXPECT_EQ(f16_to_f32(0x03FF), 1023 * 0x1p-24f);
  EXPECT_EQ(f16_to_f32(0x2E66), 0.0999755859375f);
  EXPECT_EQ(f16_to_f32(0xFC00), -INFINITY);
  // Every half survives the trip through f32.
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const auto h = static_cast<uint16_t>(b);
    if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0) continue;  // NaN payloads
    ASSERT_EQ(f32_to_f16(f16_to_f32(h)), h) << b;
  }
}

TEST(Dtype, NamesAndSizes) {
  EXPECT_EQ(parse_dtype("BF16"), DType::BF16);
  EXPECT_EQ(parse_dtype("I64"), std::nullopt);
  EXPECT_EQ(dtype_name(DType::F16), "F16");
  EXPECT_EQ(dtype_size(DType::F32), 4u);
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
}

// The same values stored in all three dtypes, read back through the mmap'd reader.
TEST(Safetensors, RoundTripInAllThreeDtypes) {
  ScratchDir dir;
  const std::vector<float> values = {
      1.0f, -2.0f, 0.1f, 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-11f};
  const std::vector<TensorToWrite> tensors = {
      {"a.f32", {2, 3}, values, DType::F32},
      {"b.f16", {2, 3}, values, DType::F16},
      {"c.bf16", {6}, values, DType::BF16},
  };
  const auto file = dir / "t.safetensors";
  ASSERT_TRUE(write_safetensors(file, tensors, {{"format", "pt"}}).ok());

  auto f = SafetensorsFile::open(file);
  ASSERT_TRUE(f.ok()) << f.error().message;
  ASSERT_EQ(f->tensors().size(), 3u);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->find("b.f16")->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f->find("c.bf16")->dtype, DType::BF16);
  EXPECT_EQ(f->find("missing"), nullptr);

  // bf16 hand values: 0.1f = 0x3DCCCCCD rounds up; 1+2^-8 is a tie that goes to even
  // 0x3F80, 1+3*2^-8 a tie that goes up to 0x3F82.
  EXPECT_EQ(stored_u16(*f, "c.bf16", 0), 0x3F80);
  EXPECT_EQ(stored_u16(*f, "c.bf16", 1), 0xC000);
  EXPECT_EQ(stored_u16(*f, "c.bf16", 2), 0x3DCD);
  EXPECT_EQ(stored_u16(*f, "c.bf16", 3), 0x3F80);
  EXPECT_EQ(stored_u16(*f, "c.bf16", 4), 0x3F82);
  EXPECT_EQ(stored_u16(*f, "b.f16", 2), 0x2E66);
  EXPECT_EQ(stored_u16(*f, "b.f16", 5), 0x3C00);  // 1+2^-11: tie, down to even

  auto store = WeightStore::open(dir.path());
  ASSERT_FALSE(store.ok());  // the file is not called model.safetensors
  std::filesystem::rename(file, dir / "model.safetensors");
  store = WeightStore::open(dir.path());
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(store->read_f32("a.f32", {2, 3}).value(), values);
  EXPECT_EQ(store->read_f32("b.f16", {2, 3}).value(),
            (std::vector<float>{1.0f, -2.0f, 0.0999755859375f, 1.00390625f, 1.01171875f, 1.0f}));
  EXPECT_EQ(store->read_f32("c.bf16", {6}).value(),
            (std::vector<float>{1.0f, -2.0f, 0.10009765625f, 1.0f, 1.015625f, 1.0f}));
}

TEST(Safetensors, HeaderIsSortedAndDataIsAligned) {
  ScratchDir dir;
  const std::vector<float> three = {1, 2, 3};
  const std::vector<float> one = {4};
  const std::vector<TensorToWrite> tensors = {
      {"z", {3}, three, DType::BF16}, {"m", {1}, one, DType::F32}, {"a", {3}, three, DType::F16}};
  const auto file = dir / "t.safetensors";
  ASSERT_TRUE(write_safetensors(file, tensors).ok());
  std::ifstream in(file, std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  EXPECT_EQ((8 + n) % 8, 0u);
  std::string header(n, '\0');
  in.read(header.data(), static_cast<std::streamsize>(n));
  EXPECT_LT(header.find("\"a\""), header.find("\"m\""));
  EXPECT_LT(header.find("\"m\""), header.find("\"z\""));
  // F32 first (the widest type), then the 2-byte tensors by name.
  const auto j = nlohmann::json::parse(header);
  EXPECT_EQ(j["m"]["data_offsets"], nlohmann::json::parse("[0, 4]"));
  EXPECT_EQ(j["a"]["data_offsets"], nlohmann::json::parse("[4, 10]"));
  EXPECT_EQ(j["z"]["data_offsets"], nlohmann::json::parse("[10, 16]"));
}

TEST(Safetensors, ShardedIndexRoundTrip) {
  ScratchDir dir;
  std::vector<std::vector<float>> data;
  std::vector<TensorToWrite> tensors;
  for (int i = 0; i < 5; ++i) data.push_back(std::vector<float>(8, static_cast<float>(i)));
  for (int i = 0; i < 5; ++i) {
    tensors.push_back({"layer." + std::to_string(i) + ".w", {2, 4}, data[i], DType::F32});
  }
  // 32 bytes a tensor, 70 a shard: two tensors per shard, three shards.
  ASSERT_TRUE(write_model_safetensors(dir.path(), tensors, 70).ok());
  EXPECT_TRUE(std::filesystem::exists(dir / "model-00003-of-00003.safetensors"));
  EXPECT_FALSE(std::filesystem::exists(dir / "model.safetensors"));
  std::ifstream in(dir / "model.safetensors.index.json");
  const auto index = nlohmann::json::parse(in);
  EXPECT_EQ(index["metadata"]["total_size"], 160);
  EXPECT_EQ(index["weight_map"]["layer.4.w"], "model-00003-of-00003.safetensors");

  auto store = WeightStore::open(dir.path());
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(store->names().size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(store->read_f32("layer." + std::to_string(i) + ".w", {2, 4}).value(), data[i]);
  }
  const auto missing = store->read_f32("layer.9.w", {2, 4});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message,
            dir.path().string() + ": no tensor 'layer.9.w' in model.safetensors.index.json");
}

TEST(WeightStore, RowAndColumnShards) {
  ScratchDir dir;
  const std::vector<float> m = {0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23};  // [3, 4]
  const std::vector<float> bias = {5, 6, 7, 8};
  const std::vector<TensorToWrite> tensors = {{"w", {3, 4}, m, DType::BF16},
                                              {"b", {4}, bias, DType::F32}};
  ASSERT_TRUE(write_model_safetensors(dir.path(), tensors).ok());
  auto store = WeightStore::open(dir.path());
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(store->read_f32_rows("w", {3, 4}, 1, 3).value(),
            (std::vector<float>{10, 11, 12, 13, 20, 21, 22, 23}));
  EXPECT_EQ(store->read_f32_cols("w", {3, 4}, 2, 4).value(),
            (std::vector<float>{2, 3, 12, 13, 22, 23}));
  EXPECT_EQ(store->read_f32_rows("b", {4}, 2, 4).value(), (std::vector<float>{7, 8}));
  EXPECT_FALSE(store->read_f32_rows("w", {3, 4}, 2, 4).ok());
  EXPECT_FALSE(store->read_f32_cols("b", {4}, 0, 2).ok());
  EXPECT_EQ(store->shape("w"), (std::vector<int64_t>{3, 4}));
  EXPECT_TRUE(store->contains("b"));
  EXPECT_FALSE(store->contains("c"));
}

TEST(WeightStore, InMemoryTensors) {
  std::map<std::string, F32Tensor> t;
  t["x"] = F32Tensor{{2, 2}, {1, 2, 3, 4}};
  WeightStore store("/ckpt.bin", std::move(t));
  WeightStore moved = std::move(store);
  EXPECT_EQ(moved.read_f32_cols("x", {2, 2}, 1, 2).value(), (std::vector<float>{2, 4}));
  const auto wrong = moved.read_f32("x", {4});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().message, "/ckpt.bin: tensor 'x' has shape [2, 2], expected [4]");
}

// A file with HEADER as its JSON header (length prefixed) followed by DATA_BYTES zeros.
void write_raw(const std::filesystem::path& p, const std::string& header, size_t data_bytes) {
  std::ofstream out(p, std::ios::binary);
  const uint64_t n = header.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << header << std::string(data_bytes, '\0');
}

std::string open_error(const std::filesystem::path& p) {
  auto f = SafetensorsFile::open(p);
  return f.ok() ? std::string("(opened)") : f.error().message;
}

TEST(Safetensors, RejectsMalformedFilesWithOneLineNamingFileAndTensor) {
  ScratchDir dir;
  const auto p = dir / "bad.safetensors";
  const std::string src = p.string();

  write_raw(p, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8);
  EXPECT_EQ(open_error(p), "(opened)");

  write_raw(p, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4);
  EXPECT_EQ(open_error(p), src +
                               ": tensor 'w': data_offsets [0, 8) run past the end of the data "
                               "(4 bytes); the file is truncated");

  write_raw(p, R"({"w":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", 8);
  EXPECT_EQ(open_error(p),
            src + ": tensor 'w': unsupported dtype 'I64' (supported: F32, F16, BF16)");

  write_raw(p, R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 12);
  EXPECT_EQ(open_error(p), src +
                               ": tensor 'w': data_offsets [0, 8) hold 8 bytes but F32 [3] "
                               "needs 12");

  write_raw(p,
            R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
            12);
  EXPECT_EQ(open_error(p), src + ": tensors 'a' and 'b' overlap in the data section");

  write_raw(p, "{not json", 0);
  EXPECT_EQ(open_error(p), src + ": header is not valid JSON");

  // Eight bytes of text read as a length: far beyond the file.
  write_text(p, "garbage!garbage!");
  EXPECT_NE(open_error(p).find(src + ": header length "), std::string::npos);
  EXPECT_NE(open_error(p).find("runs past the end of the file (16 bytes)"), std::string::npos);

  write_text(p, "abc");
  EXPECT_EQ(open_error(p), src + ": too short for a safetensors header (3 bytes)");

  EXPECT_EQ(open_error(dir / "none.safetensors"),
            (dir / "none.safetensors").string() + ": not found");
}

TEST(Safetensors, WriterRejectsSizeMismatch) {
  ScratchDir dir;
  const std::vector<float> v = {1, 2, 3};
  const std::vector<TensorToWrite> tensors = {{"w", {2, 2}, v, DType::F32}};
  const auto r = write_safetensors(dir / "x.safetensors", tensors);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("tensor 'w' has 3 values but its shape needs 4"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir / "x.safetensors"));
}

}  // namespace
}  // namespace waypoint
