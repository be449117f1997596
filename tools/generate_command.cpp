#include "tools/generate_command.hpp"

#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "engine_core/engine_step.hpp"
#include "engine_core/scheduler.hpp"
#include "tokenizer/tokenizer.hpp"
#include "worker/cpu_model_runner.hpp"
#ifdef WAYPOINT_HAVE_CUDA
#include "worker/cuda_model_runner.hpp"
#endif
#include "worker/device_selection.hpp"
#include "worker/kv_sizing.hpp"
#include "worker/llama_weights.hpp"
#include "worker/model_loader.hpp"
#include "worker/tp_launcher.hpp"
#include "worker/tp_worker.hpp"

namespace po = boost::program_options;

namespace waypoint::cli {

namespace {

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

int run_generate(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  po::options_description opts("waypoint generate options");
  std::string model_dir, prompt, prompt_ids;
  int32_t max_tokens = 16, top_k = 0, tp = 1, max_model_len = 0;
  float temperature = 0.0f, top_p = 1.0f, min_p = 0.0f;
  int64_t seed = 0, kv_bytes = 0;
  std::string device_flag = "auto";
  opts.add_options()("help,h", "print this help and exit")(
      "model", po::value(&model_dir)->required(),
      "model directory (config.json + safetensors) or llama2.c .bin")(
      "prompt", po::value(&prompt), "prompt text (needs the model's tokenizer.json)")(
      "prompt-token-ids", po::value(&prompt_ids), "prompt as comma-separated token ids")(
      "max-tokens", po::value(&max_tokens)->default_value(16), "tokens to generate at most")(
      "temperature", po::value(&temperature)->default_value(0.0f), "0 is greedy")(
      "top-p", po::value(&top_p)->default_value(1.0f), "nucleus sampling mass")(
      "top-k", po::value(&top_k)->default_value(0), "0 disables top-k")(
      "min-p", po::value(&min_p)->default_value(0.0f),
      "drop tokens below min-p times the top probability")("seed", po::value(&seed),
                                                           "per-request sampling seed")(
      "tensor-parallel-size", po::value(&tp)->default_value(1), "worker ranks")(
      "device", po::value(&device_flag)->default_value(device_flag),
      "auto, cpu or cuda; auto is cuda when this build has CUDA, a device is visible, the "
      "model suits the CUDA backend and --tensor-parallel-size is 1")(
      "max-model-len", po::value(&max_model_len)->default_value(0),
      "prompt plus output cap; 0: the model's maximum")(
      "kv-cache-memory-bytes", po::value(&kv_bytes)->default_value(0),
      "KV cache size; 0: enough for one max-model-len request")(
      "json", "print {\"prompt_token_ids\", \"token_ids\", \"text\"} as JSON");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(opts).run(), vm);
    if (vm.count("help")) {
      out << "Usage: waypoint generate --model DIR (--prompt TEXT | --prompt-token-ids 1,2,3) "
             "[options]\n\n"
          << opts;
      return kExitOk;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    err << "waypoint generate: " << e.what() << "\n";
    return kExitUsage;
  }
  if (vm.count("prompt") == vm.count("prompt-token-ids")) {
    err << "waypoint generate: give exactly one of --prompt and --prompt-token-ids\n";
    return kExitUsage;
  }
  if (tp < 1 || tp > 16) {
    err << "waypoint generate: --tensor-parallel-size must be between 1 and 16, got " << tp << "\n";
    return kExitUsage;
  }

  // --device before the model is read: a machine that cannot run CUDA says so at once.
  Device device = Device::kCpu;
  {
    const CudaAvailability cuda = device_flag == "cpu" ? CudaAvailability{} : probe_cuda();
    auto selected = select_device(device_flag, cuda, 1);
    if (!selected) {
      err << "waypoint generate: " << selected.error().message << "\n";
      return kExitUsage;
    }
    device = *selected;
  }
  if (device == Device::kCuda && tp > 1) {
    // Offline ranks are forked processes sharing the parent's memory; on CUDA they
    // would need one device and one NCCL rank each, which `waypoint serve` does.
    if (device_flag == "cuda") {
      err << "waypoint generate: --device cuda runs one rank; use waypoint serve for "
             "--tensor-parallel-size "
          << tp << " on CUDA\n";
      return kExitUsage;
    }
    device = Device::kCpu;
  }

  auto loaded = load_model(model_dir);
  if (!loaded) {
    err << "waypoint generate: " << loaded.error().message << "\n";
    return kExitFailure;
  }
  const ModelConfig& config = loaded->config;
  if (device == Device::kCuda) {
    if (auto ok = check_cuda_model(config); !ok) {
      if (device_flag == "cuda") {
        err << "waypoint generate: --device cuda: " << ok.error().message << "\n";
        return kExitUsage;
      }
      device = Device::kCpu;  // auto: the backend that can run this model
    }
  }

  std::optional<Tokenizer> tokenizer;
  const auto tokenizer_path = std::filesystem::path(model_dir) / "tokenizer.json";
  if (std::filesystem::exists(tokenizer_path)) {
    auto t = Tokenizer::load(tokenizer_path);
    if (!t) {
      err << "waypoint generate: " << t.error().message << "\n";
      return kExitFailure;
    }
    tokenizer.emplace(std::move(*t));
  }

  std::vector<TokenId> prompt_token_ids;
  if (vm.count("prompt")) {
    if (!tokenizer) {
      err << "waypoint generate: --prompt needs " << tokenizer_path.string()
          << "; give --prompt-token-ids instead\n";
      return kExitUsage;
    }
    prompt_token_ids = tokenizer->encode(prompt, /*add_special_tokens=*/true);
  } else {
    auto ids = parse_token_ids(prompt_ids);
    if (!ids) {
      err << "waypoint generate: " << ids.error().message << "\n";
      return kExitUsage;
    }
    prompt_token_ids = std::move(*ids);
  }

  SchedulerConfig sc;
  sc.max_model_len = max_model_len > 0 ? max_model_len : config.max_position_embeddings;
  sc.max_num_seqs = 1;
  sc.max_num_batched_tokens = std::max(2048, sc.max_model_len);
  sc.eos_token_id = config.eos_token_id;
  const int32_t kv_heads = config.num_key_value_heads;
  const int64_t per_block = kv_bytes_per_block(config.num_hidden_layers, sc.block_size, kv_heads,
                                               config.head_dim, device == Device::kCuda ? 2 : 4);
  sc.num_blocks = kv_bytes > 0 ? static_cast<int32_t>(kv_bytes / per_block)
                               : 1 + (sc.max_model_len + sc.block_size - 1) / sc.block_size;
  if (auto ok = sc.validate(); !ok) {
    err << "waypoint generate: " << ok.error().message << "\n";
    return kExitUsage;
  }

  if (auto ok = check_tp_divides(config, tp); !ok) {
    err << "waypoint generate: " << ok.error().message << "\n";
    return kExitUsage;
  }
  const CpuModelRunnerConfig runner_config{
      .num_blocks = sc.num_blocks, .block_size = sc.block_size, .seed = 0};

  // Ranks 1..tp-1 are forked now: after the weights are mapped (the children
  // share the mapping) and before any BLAS thread exists.
  TpRanks ranks;
  if (tp > 1) {
    auto started = start_follower_ranks(tp, config, loaded->weights, runner_config,
                                        int64_t{sc.max_num_batched_tokens} * config.hidden_size);
    if (!started) {
      err << "waypoint generate: " << started.error().message << "\n";
      return kExitFailure;
    }
    ranks = std::move(*started);
  }
  auto weights = load_llama_weights(config, loaded->weights, TpShard{0, tp});
  if (!weights) {
    err << "waypoint generate: " << weights.error().message << "\n";
    return kExitFailure;
  }
  SteadyClock clock;
  Scheduler scheduler(sc, clock);
  SingleRank single;
  TpCommunicator& comm = tp > 1 ? static_cast<TpCommunicator&>(*ranks.leader) : single;
#ifdef WAYPOINT_HAVE_CUDA
  SingleDevice single_device;  // before the runner, which refers to it
#endif
  std::unique_ptr<Executor> runner;
  std::optional<TpLeaderExecutor> leader;
  try {
    if (device == Device::kCuda) {
#ifdef WAYPOINT_HAVE_CUDA
      runner = std::make_unique<CudaModelRunner>(
          config, std::move(*weights),
          CudaModelRunnerConfig{.num_blocks = sc.num_blocks,
                                .block_size = sc.block_size,
                                .seed = 0,
                                .max_num_batched_tokens = sc.max_num_batched_tokens,
                                .max_num_seqs = sc.max_num_seqs},
          single_device);
#else
      err << "waypoint generate: --device cuda: this waypoint was built without CUDA\n";
      return kExitUsage;
#endif
    } else {
      auto cpu = std::make_unique<CpuModelRunner>(config, std::move(*weights), runner_config, comm);
      if (tp > 1) leader.emplace(*ranks.leader, *cpu);
      runner = std::move(cpu);
    }
  } catch (const std::exception& e) {
    err << "waypoint generate: " << e.what() << "\n";
    return kExitFailure;
  }
  Executor& executor = leader ? static_cast<Executor&>(*leader) : *runner;

  EngineCoreRequest request;
  request.request_id = "generate-0";
  request.prompt_token_ids = prompt_token_ids;
  request.sampling_params.temperature = temperature;
  request.sampling_params.top_p = top_p;
  request.sampling_params.top_k = top_k;
  request.sampling_params.min_p = min_p;
  request.sampling_params.max_tokens = max_tokens;
  if (vm.count("seed")) request.sampling_params.seed = seed;
  if (auto ok = scheduler.add_request(request); !ok) {
    err << "waypoint generate: " << ok.error().message << "\n";
    return kExitUsage;
  }

  std::vector<TokenId> token_ids;
  try {
    while (scheduler.has_unfinished_requests()) {
      for (const auto& batch : engine_step(scheduler, executor)) {
        for (const auto& o : batch.outputs) {
          token_ids.insert(token_ids.end(), o.new_token_ids.begin(), o.new_token_ids.end());
        }
      }
    }
    if (leader) leader->shutdown();
  } catch (const std::exception& e) {
    if (ranks.leader) ranks.leader->group().abort(e.what());
    err << "waypoint generate: " << e.what() << "\n";
    return kExitFailure;
  }
  if (auto ok = ranks.join(); !ok) {
    err << "waypoint generate: " << ok.error().message << "\n";
    return kExitFailure;
  }

  const std::string text =
      tokenizer ? tokenizer->decode(token_ids, /*skip_special_tokens=*/true) : "";
  if (vm.count("json")) {
    nlohmann::json j{
        {"prompt_token_ids", prompt_token_ids}, {"token_ids", token_ids}, {"text", text}};
    out << j.dump() << "\n";
  } else if (tokenizer) {
    out << text << "\n";
  } else {
    for (size_t i = 0; i < token_ids.size(); ++i) out << (i ? "," : "") << token_ids[i];
    out << "\n";
  }
  return kExitOk;
}

}  // namespace

Subcommand generate_subcommand() {
  return {"generate", "run a model offline on one prompt and print the completion", run_generate};
}

}  // namespace waypoint::cli
