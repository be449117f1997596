#include "tools/generate_command.hpp"

#include <signal.h>

#include <filesystem>
#include <optional>
#include <ostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/command_line.hpp"
#include "base/log.hpp"
#include "base/signal_watch.hpp"
#include "launcher/device_check.hpp"
#include "launcher/offline_engine.hpp"
#include "tokenizer/tokenizer.hpp"
#include "worker/kv_sizing.hpp"
#include "worker/model_loader.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace waypoint::cli {

namespace {

struct GenerateOptions {
  std::string model_dir, prompt, prompt_ids;
  int32_t max_tokens = 16, top_k = 0, tp = 1, max_model_len = 0;
  float temperature = 0.0f, top_p = 1.0f, min_p = 0.0f;
  int64_t seed = 0, kv_bytes = 0;
  std::string device = "auto";
};

void add_generate_options(po::options_description& opts, GenerateOptions& o) {
  opts.add_options()("model", po::value(&o.model_dir)->required(),
                     "model directory (config.json + safetensors) or llama2.c .bin")(
      "prompt", po::value(&o.prompt), "prompt text (needs the model's tokenizer.json)")(
      "prompt-token-ids", po::value(&o.prompt_ids), "prompt as comma-separated token ids")(
      "max-tokens", po::value(&o.max_tokens)->default_value(16), "tokens to generate at most")(
      "temperature", po::value(&o.temperature)->default_value(0.0f), "0 is greedy")(
      "top-p", po::value(&o.top_p)->default_value(1.0f), "nucleus sampling mass")(
      "top-k", po::value(&o.top_k)->default_value(0), "0 disables top-k")(
      "min-p", po::value(&o.min_p)->default_value(0.0f),
      "drop tokens below min-p times the top probability")("seed", po::value(&o.seed),
                                                           "per-request sampling seed")(
      "tensor-parallel-size", po::value(&o.tp)->default_value(1), "worker ranks")(
      "device", po::value(&o.device)->default_value(o.device),
      "auto, cpu or cuda; auto is cuda when this build has CUDA, a device is visible, the "
      "model suits the CUDA backend and --tensor-parallel-size is 1")(
      "max-model-len", po::value(&o.max_model_len)->default_value(0),
      "prompt plus output cap; 0: the model's maximum")(
      "kv-cache-memory-bytes", po::value(&o.kv_bytes)->default_value(0),
      "KV cache size; 0: enough for one max-model-len request")(
      "json", "print {\"prompt_token_ids\", \"token_ids\", \"text\"} as JSON");
}

Result<std::vector<TokenId>> parse_token_ids(const std::string& text) {
  std::vector<TokenId> ids;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      size_t used = 0;
      const long v = std::stol(item, &used);
      if (used != item.size() || v < 0 || v > INT32_MAX) throw std::invalid_argument(item);
      ids.push_back(static_cast<TokenId>(v));
    } catch (const std::exception&) {
      return Error{"--prompt-token-ids: '" + item + "' is not a token id"};
    }
  }
  if (ids.empty()) return Error{"--prompt-token-ids: no token ids given"};
  return ids;
}

// The model's tokenizer, when its directory has one.
Result<std::optional<Tokenizer>, LaunchError> load_tokenizer(const std::string& model_dir) {
  const auto path = fs::path(model_dir) / "tokenizer.json";
  if (!fs::exists(path)) return std::optional<Tokenizer>{};
  auto t = Tokenizer::load(path);
  if (!t) return LaunchError{t.error().message, kExitFailure};
  return std::optional<Tokenizer>(std::move(*t));
}

Result<std::vector<TokenId>, LaunchError> prompt_token_ids(
    const GenerateOptions& o, bool text, const std::optional<Tokenizer>& tokenizer) {
  if (!text) {
    auto ids = parse_token_ids(o.prompt_ids);
    if (!ids) return LaunchError{ids.error().message};
    return std::move(*ids);
  }
  if (!tokenizer) {
    return LaunchError{"--prompt needs " + (fs::path(o.model_dir) / "tokenizer.json").string() +
                       "; give --prompt-token-ids instead"};
  }
  return tokenizer->encode(o.prompt, /*add_special_tokens=*/true);
}

// One request at a time: a pool for one max-model-len request, unless
// --kv-cache-memory-bytes says otherwise.
Result<SchedulerConfig, LaunchError> scheduler_for(const GenerateOptions& o,
                                                   const ModelConfig& config, Device device) {
  SchedulerConfig sc;
  sc.max_model_len = o.max_model_len > 0 ? o.max_model_len : config.max_position_embeddings;
  sc.max_num_seqs = 1;
  sc.max_num_batched_tokens = std::max(2048, sc.max_model_len);
  sc.eos_token_id = config.eos_token_id;
  const int64_t per_block =
      kv_bytes_per_block(config.num_hidden_layers, sc.block_size, config.num_key_value_heads,
                         config.head_dim, device == Device::kCuda ? 2 : 4);
  sc.num_blocks = o.kv_bytes > 0 ? static_cast<int32_t>(o.kv_bytes / per_block)
                                 : 1 + (sc.max_model_len + sc.block_size - 1) / sc.block_size;
  if (auto ok = sc.validate(); !ok) return LaunchError{ok.error().message};
  return sc;
}

EngineCoreRequest make_request(const GenerateOptions& o, bool seeded, std::vector<TokenId> prompt) {
  EngineCoreRequest request;
  request.request_id = "generate-0";
  request.prompt_token_ids = std::move(prompt);
  request.sampling_params.temperature = o.temperature;
  request.sampling_params.top_p = o.top_p;
  request.sampling_params.top_k = o.top_k;
  request.sampling_params.min_p = o.min_p;
  request.sampling_params.max_tokens = o.max_tokens;
  if (seeded) request.sampling_params.seed = o.seed;
  return request;
}

// Runs the request to its end on the offline engine; returns its tokens. SIGINT
// or SIGTERM stops it between two steps, so the engine can take its worker
// processes and their files down with it.
Result<std::vector<TokenId>, LaunchError> run_to_end(OfflineEngineConfig config,
                                                     const EngineCoreRequest& request) {
  const Logger log("generate", LogLevel::kWarn);
  SignalWatch signals({SIGINT, SIGTERM});
  config.signals = &signals;
  auto engine = OfflineEngine::start(config, log);
  if (!engine) return LaunchError{engine.error().message, kExitFailure};
  if (auto ok = (*engine)->add_request(request); !ok) return LaunchError{ok.error().message};
  std::vector<TokenId> token_ids;
  try {
    while ((*engine)->has_unfinished_requests()) {
      if (signals.take()) return LaunchError{"interrupted", kExitInterrupted};
      for (const auto& batch : (*engine)->step()) {
        for (const auto& o : batch.outputs) {
          token_ids.insert(token_ids.end(), o.new_token_ids.begin(), o.new_token_ids.end());
        }
      }
    }
  } catch (const std::exception& e) {
    return LaunchError{e.what(), kExitFailure};
  }
  if (auto ok = (*engine)->shutdown(); !ok) return LaunchError{ok.error().message, kExitFailure};
  return token_ids;
}

void print_completion(std::ostream& out, bool json, const std::vector<TokenId>& prompt,
                      const std::vector<TokenId>& token_ids,
                      const std::optional<Tokenizer>& tokenizer) {
  const std::string text =
      tokenizer ? tokenizer->decode(token_ids, /*skip_special_tokens=*/true) : "";
  if (json) {
    out << nlohmann::json{{"prompt_token_ids", prompt}, {"token_ids", token_ids}, {"text", text}}
               .dump()
        << "\n";
  } else if (tokenizer) {
    out << text << "\n";
  } else {
    for (size_t i = 0; i < token_ids.size(); ++i) out << (i ? "," : "") << token_ids[i];
    out << "\n";
  }
}

// The model's config. A llama2.c checkpoint carries its own inside the weights
// file, so the model is opened, and closed again: the engine loads it itself.
Result<ModelConfig, LaunchError> read_model_config(const std::string& model_dir) {
  auto loaded = load_model(model_dir);
  if (!loaded) return LaunchError{loaded.error().message, kExitFailure};
  return std::move(loaded->config);
}

// Everything after the command line; an error carries its exit code.
Result<int, LaunchError> generate(const GenerateOptions& o, const CommandLine& cl,
                                  std::ostream& out) {
  const DeviceRequest request{o.device, o.tp, /*cuda_tensor_parallel=*/false};
  auto selected = select_requested_device(request);
  if (!selected) return selected.error();
  auto model = read_model_config(o.model_dir);
  if (!model) return model.error();
  auto choice = fit_device_to_model(*selected, request, *model);
  if (!choice) return choice.error();
  auto tokenizer = load_tokenizer(o.model_dir);
  if (!tokenizer) return tokenizer.error();
  auto prompt = prompt_token_ids(o, cl.given("prompt"), *tokenizer);
  if (!prompt) return prompt.error();
  auto scheduler = scheduler_for(o, *model, choice->device);
  if (!scheduler) return scheduler.error();
  const OfflineEngineConfig config{.model_dir = o.model_dir,
                                   .model = *model,
                                   .device = choice->device,
                                   .tensor_parallel_size = o.tp,
                                   .scheduler = *scheduler};
  auto token_ids = run_to_end(config, make_request(o, cl.given("seed"), *prompt));
  if (!token_ids) return token_ids.error();
  print_completion(out, cl.given("json"), *prompt, *token_ids, *tokenizer);
  return kExitOk;
}

int run_generate(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  GenerateOptions o;
  CommandLine cl("generate",
                 "Usage: waypoint generate --model DIR (--prompt TEXT | --prompt-token-ids "
                 "1,2,3) [options]\n\n");
  add_generate_options(cl.options(), o);
  if (auto exit = cl.parse_or_exit(args, out, err)) return *exit;
  if (cl.given("prompt") == cl.given("prompt-token-ids")) {
    return cl.usage_error(err, "give exactly one of --prompt and --prompt-token-ids");
  }
  if (o.tp < 1 || o.tp > 16) {
    return cl.usage_error(
        err, "--tensor-parallel-size must be between 1 and 16, got " + std::to_string(o.tp));
  }
  auto done = generate(o, cl, out);
  if (!done) {
    err << "waypoint generate: " << done.error().message << "\n";
    return done.error().exit_code;
  }
  return *done;
}

}  // namespace

Subcommand generate_subcommand() {
  return {"generate", "run a model offline on one prompt and print the completion", run_generate};
}

}  // namespace waypoint::cli
