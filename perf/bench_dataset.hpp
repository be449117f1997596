#pragma once
// The requests a benchmark sends: random token prompts, ShareGPT
// conversations, or a recorded trace replayed (`waypoint events` JSONL).
// Sampling follows vLLM's benchmark datasets so the same flags mean the
// same workload.
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "base/result.hpp"

namespace waypoint::bench {

struct BenchRequest {
  // Token ids when the length must be exact (random, trace); text otherwise.
  std::vector<int32_t> prompt_token_ids;
  std::string prompt_text;
  int64_t prompt_len = 0;
  int64_t output_len = 0;
  // Seconds from the start of the run, for a replayed trace; otherwise the
  // arrival process decides.
  std::optional<double> arrival_offset;
};

// --dataset-name random: lengths uniform in [len*(1-r), len*(1+r)], prompts
// of consecutive ids from a random offset (vLLM's RandomDataset).
struct RandomSpec {
  int64_t input_len = 1024;
  int64_t output_len = 128;
  double range_ratio = 0.0;  // in [0, 1)
};
Result<std::vector<BenchRequest>> random_requests(const RandomSpec& spec, std::size_t count,
                                                  int32_t vocab_size, std::mt19937_64& rng);

// --dataset-name sharegpt: the first human turn and the gpt reply after it.
struct Conversation {
  std::string prompt;
  std::string completion;
};
Result<std::vector<Conversation>> read_sharegpt(const std::string& path);

// Counts a text's tokens with the server's tokenizer (POST /tokenize).
using TokenCounter = std::function<Result<int64_t>(const std::string& text)>;

// vLLM's ShareGPT sampling: shuffle, then keep pairs until `count` are
// found, skipping prompt or output < 4 tokens, prompt > 1024, or
// prompt + output > 2048. `fixed_output_len` replaces the reply's length.
Result<std::vector<BenchRequest>> sample_sharegpt(std::vector<Conversation> conversations,
                                                  std::size_t count, const TokenCounter& tokens,
                                                  std::mt19937_64& rng,
                                                  std::optional<int64_t> fixed_output_len = {});

// --dataset-name trace: one request per request.id with an api.ARRIVED and
// an api.HANDOFF_TO_CORE; arrival offsets from the first ARRIVED; output
// length from api.DEPARTED's request.num_output_tokens, else max_tokens.
struct TracedRequest {
  std::string request_id;
  double arrival_offset = 0;  // seconds
  int64_t prompt_len = 0;
  int64_t output_len = 0;
};
Result<std::vector<TracedRequest>> read_trace(const std::string& path);

// The traced requests as random-id prompts of the recorded lengths, at the
// recorded offsets; at most `count` (0: all).
std::vector<BenchRequest> trace_requests(const std::vector<TracedRequest>& traced,
                                         std::size_t count, int32_t vocab_size,
                                         std::mt19937_64& rng);

}  // namespace waypoint::bench
