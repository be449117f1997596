#include "perf/bench_dataset.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "telemetry/trace_attributes.hpp"

namespace waypoint::bench {

namespace {

using Json = nlohmann::json;

// ShareGPT filtering bounds, vLLM's is_valid_sequence defaults.
constexpr int64_t kMinLen = 4;
constexpr int64_t kMaxPromptLen = 1024;
constexpr int64_t kMaxTotalLen = 2048;

// `length` consecutive ids from a random offset, wrapping at the vocabulary,
// the i-th prompt shifted by i so no two share a prefix by accident.
std::vector<int32_t> token_prompt(int64_t length, std::size_t index, int32_t vocab_size,
                                  std::mt19937_64& rng) {
  std::uniform_int_distribution<int64_t> offset_dist(0, vocab_size - 1);
  const int64_t offset = offset_dist(rng);
  std::vector<int32_t> ids(static_cast<std::size_t>(length));
  for (int64_t j = 0; j < length; ++j) {
    ids[static_cast<std::size_t>(j)] =
        static_cast<int32_t>((offset + static_cast<int64_t>(index) + j) % vocab_size);
  }
  return ids;
}

std::optional<int64_t> int_field(const Json& j, std::string_view key) {
  auto it = j.find(std::string(key));
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<int64_t>();
}

// Seconds on the producer's CLOCK_MONOTONIC; the integer ns when present.
std::optional<double> event_time(const Json& j) {
  if (auto ns = int_field(j, attr::kTsMonotonicNs)) return static_cast<double>(*ns) / 1e9;
  auto it = j.find(std::string(attr::kTsMonotonic));
  if (it != j.end() && it->is_number()) return it->get<double>();
  return std::nullopt;
}

}  // namespace

Result<std::vector<BenchRequest>> random_requests(const RandomSpec& spec, std::size_t count,
                                                  int32_t vocab_size, std::mt19937_64& rng) {
  if (spec.input_len < 1) return Error{"--random-input-len must be at least 1"};
  if (spec.output_len < 1) return Error{"--random-output-len must be at least 1"};
  if (!(spec.range_ratio >= 0 && spec.range_ratio < 1)) {
    return Error{"--random-range-ratio must be in [0, 1)"};
  }
  if (vocab_size < 1) return Error{"the vocabulary is empty"};
  const auto bounds = [&](int64_t len) {
    const auto lo = static_cast<int64_t>(static_cast<double>(len) * (1 - spec.range_ratio));
    const auto hi = static_cast<int64_t>(static_cast<double>(len) * (1 + spec.range_ratio));
    return std::uniform_int_distribution<int64_t>(std::max<int64_t>(lo, 1),
                                                  std::max<int64_t>(hi, 1));
  };
  auto input_dist = bounds(spec.input_len);
  auto output_dist = bounds(spec.output_len);
  std::vector<BenchRequest> requests(count);
  for (auto& r : requests) r.prompt_len = input_dist(rng);
  for (auto& r : requests) r.output_len = output_dist(rng);
  for (std::size_t i = 0; i < count; ++i) {
    requests[i].prompt_token_ids = token_prompt(requests[i].prompt_len, i, vocab_size, rng);
  }
  return requests;
}

Result<std::vector<Conversation>> read_sharegpt(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error{"cannot open --dataset-path " + path};
  Json doc = Json::parse(in, nullptr, false);
  if (doc.is_discarded()) return Error{"--dataset-path " + path + " is not valid JSON"};
  if (!doc.is_array()) {
    return Error{"--dataset-path " + path + " is not a ShareGPT list of conversations"};
  }
  std::vector<Conversation> conversations;
  for (const Json& entry : doc) {
    if (!entry.is_object()) continue;
    auto turns = entry.find("conversations");
    if (turns == entry.end() || !turns->is_array()) continue;
    std::optional<std::string> prompt;
    for (const Json& turn : *turns) {
      if (!turn.is_object() || !turn.contains("from") || !turn.contains("value") ||
          !turn["from"].is_string() || !turn["value"].is_string()) {
        continue;
      }
      const std::string& from = turn["from"].get_ref<const std::string&>();
      if (!prompt && from == "human") {
        prompt = turn["value"].get<std::string>();
      } else if (prompt && from == "gpt") {
        conversations.push_back({*prompt, turn["value"].get<std::string>()});
        break;
      }
    }
  }
  return conversations;
}

Result<std::vector<BenchRequest>> sample_sharegpt(std::vector<Conversation> conversations,
                                                  std::size_t count, const TokenCounter& tokens,
                                                  std::mt19937_64& rng,
                                                  std::optional<int64_t> fixed_output_len) {
  std::shuffle(conversations.begin(), conversations.end(), rng);
  std::vector<BenchRequest> requests;
  for (const Conversation& c : conversations) {
    if (requests.size() == count) break;
    auto prompt_len = tokens(c.prompt);
    if (!prompt_len) return prompt_len.error();
    int64_t output_len = 0;
    if (fixed_output_len) {
      output_len = *fixed_output_len;
    } else {
      auto counted = tokens(c.completion);
      if (!counted) return counted.error();
      output_len = *counted;
    }
    // A fixed output length is the user's choice: only the prompt is checked.
    if (*prompt_len < kMinLen || (!fixed_output_len && output_len < kMinLen)) continue;
    if (*prompt_len > kMaxPromptLen || *prompt_len + output_len > kMaxTotalLen) continue;
    BenchRequest r;
    r.prompt_text = c.prompt;
    r.prompt_len = *prompt_len;
    r.output_len = output_len;
    requests.push_back(std::move(r));
  }
  return requests;
}

Result<std::vector<TracedRequest>> read_trace(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error{"cannot open --dataset-path " + path};
  struct Seen {
    std::optional<double> arrived;
    std::optional<int64_t> prompt_len;
    std::optional<int64_t> max_tokens;
    std::optional<int64_t> output_tokens;
  };
  std::map<std::string, Seen> by_id;
  std::string line;
  int64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const Json j = Json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return Error{path + ":" + std::to_string(line_number) + ": not a JSON object"};
    }
    auto type = j.find(std::string(attr::kEventType));
    auto id = j.find(std::string(attr::kRequestId));
    if (type == j.end() || id == j.end() || !type->is_string()) continue;
    const std::string key = id->is_string() ? id->get<std::string>() : id->dump();
    const std::string& event = type->get_ref<const std::string&>();
    if (event == event_name::kArrived) {
      by_id[key].arrived = event_time(j);
    } else if (event == event_name::kHandoffToCore) {
      by_id[key].prompt_len = int_field(j, attr::kNumPromptTokens);
      by_id[key].max_tokens = int_field(j, attr::kMaxTokens);
    } else if (event == event_name::kDeparted) {
      by_id[key].output_tokens = int_field(j, attr::kNumOutputTokens);
    }
  }
  std::vector<TracedRequest> traced;
  for (const auto& [id, seen] : by_id) {
    if (!seen.arrived || !seen.prompt_len || *seen.prompt_len < 1) continue;
    const int64_t output = seen.output_tokens.value_or(seen.max_tokens.value_or(0));
    if (output < 1) continue;  // nothing to ask for: a request that produced no token
    traced.push_back({id, *seen.arrived, *seen.prompt_len, output});
  }
  if (traced.empty()) {
    return Error{"--dataset-path " + path +
                 " has no request with api.ARRIVED and api.HANDOFF_TO_CORE events"};
  }
  std::stable_sort(traced.begin(), traced.end(),
                   [](const TracedRequest& a, const TracedRequest& b) {
                     return a.arrival_offset < b.arrival_offset;
                   });
  const double first = traced.front().arrival_offset;
  for (auto& t : traced) t.arrival_offset -= first;
  return traced;
}

std::vector<BenchRequest> trace_requests(const std::vector<TracedRequest>& traced,
                                         std::size_t count, int32_t vocab_size,
                                         std::mt19937_64& rng) {
  const std::size_t n = count == 0 ? traced.size() : std::min(count, traced.size());
  std::vector<BenchRequest> requests(n);
  for (std::size_t i = 0; i < n; ++i) {
    requests[i].prompt_len = traced[i].prompt_len;
    requests[i].output_len = traced[i].output_len;
    requests[i].arrival_offset = traced[i].arrival_offset;
    requests[i].prompt_token_ids = token_prompt(traced[i].prompt_len, i, vocab_size, rng);
  }
  return requests;
}

}  // namespace waypoint::bench
