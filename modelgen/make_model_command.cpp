#include "modelgen/make_model_command.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "base/command_line.hpp"
#include "modelgen/model_presets.hpp"
#include "modelgen/random_weights.hpp"
#include "modelgen/tokenizer_files.hpp"
#include "worker/safetensors_writer.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace waypoint::cli {
namespace {

using tools::ModelPreset;

// Writes TEXT to PATH through a temporary beside it, so an interrupted run never leaves
// a truncated config or tokenizer behind.
Result<void> write_text_file(const fs::path& path, const std::string& text) {
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Error{path.string() + ": cannot be created"};
    out << text;
    out.close();
    if (!out) return Error{path.string() + ": write failed"};
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Error{path.string() + ": cannot be renamed into place: " + ec.message()};
  }
  return {};
}

Result<void> write_json(const fs::path& path, const nlohmann::ordered_json& j) {
  return write_text_file(path, j.dump(2) + "\n");
}

// Shard count the writer's packing gives for CAP: whole tensors in name order, a new
// shard when the next tensor would push the current one past CAP (worker/
// safetensors_writer.hpp, write_model_safetensors).
size_t shards_for_cap(const std::vector<uint64_t>& sizes_by_name, uint64_t cap) {
  size_t shards = 0;
  uint64_t in_shard = 0;
  for (uint64_t s : sizes_by_name) {
    if (shards == 0 || (in_shard > 0 && in_shard + s > cap)) {
      ++shards;
      in_shard = 0;
    }
    in_shard += s;
  }
  return shards;
}

std::vector<uint64_t> sizes_by_name(const std::vector<TensorToWrite>& tensors) {
  std::vector<const TensorToWrite*> by_name;
  for (const auto& t : tensors) by_name.push_back(&t);
  std::sort(by_name.begin(), by_name.end(),
            [](const auto* a, const auto* b) { return a->name < b->name; });
  std::vector<uint64_t> sizes;
  for (const auto* t : by_name) sizes.push_back(t->data.size() * dtype_size(t->dtype));
  return sizes;
}

size_t shards_for_cap_of(const std::vector<TensorToWrite>& tensors, uint64_t cap) {
  return shards_for_cap(sizes_by_name(tensors), cap);
}

// The smallest per-shard cap that packs the tensors into at most K shards (the shard
// count only falls as the cap grows, so a binary search finds it). The smallest such cap
// balances the shards best.
uint64_t cap_for_shards(const std::vector<TensorToWrite>& tensors, size_t k) {
  const std::vector<uint64_t> sizes = sizes_by_name(tensors);
  uint64_t lo = 1, hi = 0;
  for (uint64_t s : sizes) {
    lo = std::max(lo, s);
    hi += s;
  }
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    if (shards_for_cap(sizes, mid) <= k) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

// Removes weight files a previous run may have left (--force), so the directory never
// holds both a single file and an index, or shards of two different runs.
void remove_old_weights(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const bool weights = name == "model.safetensors" || name == "model.safetensors.index.json" ||
                         (name.rfind("model-", 0) == 0 && name.ends_with(".safetensors"));
    if (weights) fs::remove(entry.path(), ec);
  }
}

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

// --out: an empty or new directory, or with --force any directory, whose old
// weights are removed.
Result<void> prepare_out_dir(const fs::path& dir, bool force) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) return Error{dir.string() + " exists and is not a directory"};
    if (!fs::is_empty(dir, ec) && !force) {
      return Error{dir.string() + " is a non-empty directory; pass --force to write into it"};
    }
  }
  fs::create_directories(dir, ec);
  if (ec) return Error{"cannot create " + dir.string() + ": " + ec.message()};
  remove_old_weights(dir);
  return {};
}

int run_make_model(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string out_dir, preset_name, dtype_name;
  uint64_t seed = 0;
  size_t shards = 1;
  CommandLine cl("make-model",
                 "Usage: waypoint make-model --out DIR "
                 "[--preset tiny|small|llama-3.2-1b-shape|llama-3.1-8b-shape] [--seed N] "
                 "[--dtype f32|bf16] [--shards K] [--force]\n\n"
                 "The *-shape presets copy the shapes of Llama-3.2-1B and Llama-3.1-8B but their "
                 "weights are random: they are NOT those models (timing fixtures only).\n\n");
  cl.options().add_options()("out", po::value(&out_dir)->required(), "model directory to write")(
      "preset", po::value(&preset_name)->default_value("tiny"),
      "tiny (demo, ~125K parameters), small (~110M), or llama-3.2-1b-shape (1.24B) / "
      "llama-3.1-8b-shape (8.03B): those models' exact shapes with RANDOM weights, for "
      "timing only; they are not Llama models and generate nothing meaningful. Use "
      "--dtype bf16 for them (8B: 16 GB written, ~32 GB of memory while writing)")(
      "seed", po::value(&seed)->default_value(0),
      "weight seed; the same seed gives the same files")(
      "dtype", po::value(&dtype_name)->default_value("f32"), "stored weight type: f32 or bf16")(
      "shards", po::value(&shards)->default_value(1),
      "safetensors files; more than 1 adds model.safetensors.index.json")(
      "force", "write into --out even when it is a non-empty directory");
  if (auto exit = cl.parse_or_exit(args, out, err)) return *exit;
  std::optional<ModelPreset> preset = tools::find_preset(preset_name);
  if (!preset) {
    std::string names;
    for (const std::string& n : tools::preset_names()) names += (names.empty() ? "" : ", ") + n;
    err << "waypoint make-model: --preset '" << preset_name << "' is not one of " << names << "\n";
    return kExitUsage;
  }
  if (dtype_name != "f32" && dtype_name != "bf16") {
    err << "waypoint make-model: --dtype '" << dtype_name << "' is not one of f32, bf16\n";
    return kExitUsage;
  }
  const DType dtype = dtype_name == "f32" ? DType::F32 : DType::BF16;
  const int64_t tensor_count =
      preset->num_hidden_layers * 9 + 2 + (preset->tie_word_embeddings ? 0 : 1);
  if (shards < 1 || static_cast<int64_t>(shards) > tensor_count) {
    err << "waypoint make-model: --shards " << shards << " must be between 1 and " << tensor_count
        << " (the preset's tensor count)\n";
    return kExitUsage;
  }

  const fs::path dir(out_dir);
  if (auto ready = prepare_out_dir(dir, cl.given("force")); !ready) {
    err << "waypoint make-model: " << ready.error().message << "\n";
    return kExitFailure;
  }

  // The tokenizer fixes the vocabulary size; it always fills the preset's exactly, so the
  // parameter count printed is the preset's.
  const tools::TokenizerFiles tok = tools::build_tokenizer_files(
      preset->vocab_size, preset->max_position_embeddings, preset->special_tokens);
  preset->vocab_size = tok.vocab_size;
  const auto config = tools::llama_config_json(*preset, tok.bos_token_id, tok.eos_token_id,
                                               dtype == DType::F32 ? "float32" : "bfloat16");

  const std::vector<tools::NamedTensor> weights =
      tools::random_llama_weights(*preset, seed, tok.padding);
  std::vector<TensorToWrite> to_write;
  for (const auto& w : weights) to_write.push_back({w.name, w.shape, w.data, dtype});
  const uint64_t cap = shards > 1 ? cap_for_shards(to_write, shards) : 0;

  // The "format": "pt" metadata is what transformers' loader checks safetensors files for.
  const std::map<std::string, std::string> metadata = {{"format", "pt"}};
  const auto failed = [&](const Result<void>& r) {
    if (!r) err << "waypoint make-model: " << r.error().message << "\n";
    return !r;
  };
  if (failed(write_json(dir / "config.json", config)) ||
      failed(write_json(dir / "tokenizer.json", tok.tokenizer)) ||
      failed(write_json(dir / "tokenizer_config.json", tok.tokenizer_config)) ||
      failed(write_model_safetensors(dir, to_write, cap, metadata))) {
    return kExitFailure;
  }

  const int64_t params = tools::parameter_count(*preset);
  char millions[32];
  std::snprintf(millions, sizeof(millions), "%.1fM", static_cast<double>(params) / 1e6);
  out << "wrote " << dir.string() << ": preset " << preset->name << ", " << with_commas(params)
      << " parameters (" << millions << "), vocab " << tok.vocab_size << " (" << tok.bpe_size
      << " BPE tokens"
      << (tok.learned_size < tok.bpe_size
              ? ", " + std::to_string(tok.learned_size) + " of them learned from the corpus"
              : "")
      << "), " << dtype_name << ", seed " << seed << ", "
      << (cap == 0 ? "model.safetensors"
                   : std::to_string(shards_for_cap_of(to_write, cap)) + " shards")
      << "\n";
  return kExitOk;
}

}  // namespace

Subcommand make_model_subcommand() {
  return {"make-model", "write a random-weight Llama model directory (demo and test fixture)",
          run_make_model};
}

}  // namespace waypoint::cli
