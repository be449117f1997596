#include <gtest/gtest.h>

#include <fstream>

#include "tests/worker/scratch_dir.hpp"
#include "worker/model_loader.hpp"
#include "worker/safetensors_writer.hpp"

namespace waypoint {
namespace {

namespace fs = std::filesystem;
using testing::ScratchDir;
using testing::write_text;

constexpr const char* kConfig = R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 8,
    "hidden_size": 4, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
    "eos_token_id": [2, 3]})";

// A small model directory: config.json plus two tensors, optionally sharded one a file.
void make_model(const fs::path& dir, bool sharded = false) {
  write_text(dir / "config.json", kConfig);
  const std::vector<float> embed(32, 0.5f);
  const std::vector<float> norm = {1, 2, 3, 4};
  const std::vector<TensorToWrite> tensors = {
      {"model.embed_tokens.weight", {8, 4}, embed, DType::BF16},
      {"model.norm.weight", {4}, norm, DType::F16}};
  ASSERT_TRUE(write_model_safetensors(dir, tensors, sharded ? 1 : 0).ok());
}

// Loads DIR expecting failure; the message must be a single line.
std::string load_error(const fs::path& dir) {
  auto m = load_model(dir);
  if (m.ok()) return "(loaded)";
  EXPECT_EQ(m.error().message.find('\n'), std::string::npos) << m.error().message;
  return m.error().message;
}

TEST(ModelLoader, LoadsAHuggingFaceDirectory) {
  ScratchDir dir;
  make_model(dir.path());
  auto m = load_model(dir.path());
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->config.hidden_size, 4);
  EXPECT_EQ(m->config.eos_token_id, 2);
  EXPECT_EQ(m->weights.read_f32("model.norm.weight", {4}).value(),
            (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(m->weights.read_f32_rows("model.embed_tokens.weight", {8, 4}, 7, 8).value(),
            (std::vector<float>(4, 0.5f)));
}

TEST(ModelLoader, LoadsAShardedDirectory) {
  ScratchDir dir;
  make_model(dir.path(), /*sharded=*/true);
  auto m = load_model(dir.path());
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_TRUE(m->weights.contains("model.embed_tokens.weight"));
  EXPECT_TRUE(m->weights.contains("model.norm.weight"));
}

TEST(ModelLoader, MissingConfigJson) {
  ScratchDir dir;
  EXPECT_EQ(load_error(dir.path()), (dir / "config.json").string() + ": not found");
}

TEST(ModelLoader, MissingPath) {
  ScratchDir dir;
  EXPECT_EQ(load_error(dir / "nope"), (dir / "nope").string() + ": no such file or directory");
}

TEST(ModelLoader, MissingModelSafetensors) {
  ScratchDir dir;
  write_text(dir / "config.json", kConfig);
  EXPECT_EQ(load_error(dir.path()),
            dir.path().string() + ": no model.safetensors or model.safetensors.index.json");
}

TEST(ModelLoader, MissingShard) {
  ScratchDir dir;
  make_model(dir.path(), /*sharded=*/true);
  const auto shard = dir / "model-00002-of-00002.safetensors";
  fs::remove(shard);
  EXPECT_EQ(load_error(dir.path()),
            shard.string() + ": not found (a shard named in model.safetensors.index.json)");
}

TEST(ModelLoader, MissingTensor) {
  ScratchDir dir;
  make_model(dir.path());
  auto m = load_model(dir.path());
  ASSERT_TRUE(m.ok());
  auto r = m->weights.read_f32("model.layers.3.mlp.up_proj.weight", {8, 4});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(
      r.error().message,
      dir.path().string() + ": no tensor 'model.layers.3.mlp.up_proj.weight' in model.safetensors");
}

TEST(ModelLoader, WrongShape) {
  ScratchDir dir;
  make_model(dir.path());
  auto m = load_model(dir.path());
  ASSERT_TRUE(m.ok());
  auto r = m->weights.read_f32("model.embed_tokens.weight", {4, 8});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, (dir / "model.safetensors").string() +
                                   ": tensor 'model.embed_tokens.weight' has shape [8, 4], "
                                   "expected [4, 8]");
}

TEST(ModelLoader, UnknownArchitecture) {
  ScratchDir dir;
  make_model(dir.path());
  write_text(dir / "config.json", R"({"architectures": ["GPT2LMHeadModel"]})");
  EXPECT_EQ(load_error(dir.path()),
            (dir / "config.json").string() +
                ": unknown architecture 'GPT2LMHeadModel' (supported: LlamaForCausalLM, "
                "Qwen2ForCausalLM)");
}

TEST(ModelLoader, TruncatedSafetensors) {
  ScratchDir dir;
  make_model(dir.path());
  const auto file = dir / "model.safetensors";
  fs::resize_file(file, fs::file_size(file) - 10);
  const auto msg = load_error(dir.path());
  EXPECT_EQ(msg.rfind(file.string() + ": tensor '", 0), 0u) << msg;
  EXPECT_NE(msg.find("the file is truncated"), std::string::npos) << msg;
}

TEST(ModelLoader, GarbageHeader) {
  ScratchDir dir;
  make_model(dir.path());
  const auto file = dir / "model.safetensors";
  write_text(file, std::string("\x10\0\0\0\0\0\0\0", 8) + "this is no json!");
  EXPECT_EQ(load_error(dir.path()), file.string() + ": header is not valid JSON");
  write_text(file, "<html>not a model file at all</html>");
  const auto msg = load_error(dir.path());
  EXPECT_EQ(msg.rfind(file.string() + ": header length ", 0), 0u) << msg;
}

TEST(ModelLoader, UnknownDtype) {
  ScratchDir dir;
  make_model(dir.path());
  const auto file = dir / "model.safetensors";
  const std::string header =
      R"({"model.norm.weight":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})";
  std::ofstream out(file, std::ios::binary);
  const uint64_t n = header.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << header << std::string(4, '\0');
  out.close();
  EXPECT_EQ(load_error(dir.path()),
            file.string() +
                ": tensor 'model.norm.weight': unsupported dtype 'F8_E4M3' (supported: F32, F16, "
                "BF16)");
}

TEST(ModelLoader, ShardPathMustStayInTheDirectory) {
  ScratchDir dir;
  write_text(dir / "config.json", kConfig);
  write_text(dir / "model.safetensors.index.json",
             R"({"weight_map": {"w": "../elsewhere.safetensors"}})");
  const auto msg = load_error(dir.path());
  EXPECT_NE(msg.find("which is not a plain file name"), std::string::npos) << msg;
}

}  // namespace
}  // namespace waypoint
