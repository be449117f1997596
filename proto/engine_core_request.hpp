#pragma once
// Frontend -> engine core messages (docs/architecture.md, "Wire contract"). Each struct is a
// positional msgpack array in declaration order; new fields go at the end only.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <msgpack.hpp>

namespace waypoint {

using TokenId = int32_t;

struct SamplingParams {
  static constexpr const char* kWireName = "SamplingParams";
  float temperature = 1.0f;
  float top_p = 1.0f;
  int32_t top_k = 0;  // 0 disables top-k
  float min_p = 0.0f;
  std::optional<int64_t> seed;
  // nil: limited only by max_model_len, as an OpenAI chat request without max_tokens.
  std::optional<int32_t> max_tokens;
  int32_t min_tokens = 0;
  std::vector<TokenId> stop_token_ids;
  bool ignore_eos = false;
  int32_t n = 1;

  bool operator==(const SamplingParams&) const = default;
  MSGPACK_DEFINE_ARRAY(temperature, top_p, top_k, min_p, seed, max_tokens, min_tokens,
                       stop_token_ids, ignore_eos, n)
};

struct EngineCoreRequest {
  static constexpr const char* kWireName = "EngineCoreRequest";
  std::string request_id;
  std::vector<TokenId> prompt_token_ids;
  SamplingParams sampling_params;
  double arrival_time = 0.0;  // epoch seconds
  int32_t client_index = 0;
  int32_t priority = 0;  // lower is served first, as in vLLM
  std::optional<std::map<std::string, std::string>> trace_headers;

  bool operator==(const EngineCoreRequest&) const = default;
  MSGPACK_DEFINE_ARRAY(request_id, prompt_token_ids, sampling_params, arrival_time, client_index,
                       priority, trace_headers)
};

// The first frame of every frontend -> core message: one byte.
enum class RequestType : uint8_t { ADD = 0, ABORT = 1, UTILITY = 3 };

struct AbortRequests {
  static constexpr const char* kWireName = "AbortRequests";
  std::vector<std::string> request_ids;

  bool operator==(const AbortRequests&) const = default;
  MSGPACK_DEFINE_ARRAY(request_ids)
};

// A control call on the engine core (reset_prefix_cache, ...); the reply
// carries the same call_id.
struct UtilityCall {
  static constexpr const char* kWireName = "UtilityCall";
  int32_t client_index = 0;
  int64_t call_id = 0;
  std::string method;
  std::vector<std::string> args;

  bool operator==(const UtilityCall&) const = default;
  MSGPACK_DEFINE_ARRAY(client_index, call_id, method, args)
};

}  // namespace waypoint
