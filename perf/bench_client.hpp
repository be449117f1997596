#pragma once
// The HTTP side of `waypoint bench`: the server's model, tokenizer and
// vocabulary as its API shows them, and one streamed completion timed the
// way vLLM's benchmark times it (backend_request_func). cpp-httplib, one
// client per call, so concurrent requests share nothing.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "perf/bench_dataset.hpp"
#include "perf/bench_metrics.hpp"

namespace waypoint::bench {

struct ServerAddress {
  std::string host;
  int port = 80;
  std::string path_prefix;  // a base URL's path, before /v1/...
};
Result<ServerAddress> parse_base_url(const std::string& url);

// Turns an SSE byte stream into a RequestRecord. vLLM's rules: every `data:`
// event with a non-empty `choices` is a chunk; the first one's time is the
// TTFT, the gaps between successive ones the ITLs, the last one's time the
// latency; a `usage` gives the output token count (else the chunks are
// counted); a stream without a chunk failed.
class StreamAccumulator {
 public:
  // `now`: seconds since the request was sent, when these bytes arrived.
  void feed(std::string_view bytes, double now);
  RequestRecord finish(int64_t prompt_len) const;

 private:
  void event(std::string_view data, double now);

  std::string pending_;
  bool first_ = true;
  double last_ = 0;
  RequestRecord record_;
  int64_t chunks_ = 0;
  std::optional<int64_t> usage_tokens_;
};

class BenchClient {
 public:
  BenchClient(ServerAddress address, std::string api_key);

  // The first id GET /v1/models lists.
  Result<std::string> first_model() const;
  // POST /tokenize {"prompt": text}: its token count.
  Result<int64_t> count_tokens(const std::string& model, const std::string& text) const;
  // POST /detokenize: the text of token ids (chat prompts need text).
  Result<std::string> detokenize(const std::string& model, const std::vector<int32_t>& ids) const;
  // The vocabulary size, found by asking /detokenize which ids exist (the
  // API has no field for it): random prompts need ids the server accepts.
  Result<int32_t> vocab_size(const std::string& model) const;

  struct Options {
    std::string endpoint = "/v1/completions";
    bool chat = false;
    std::string model;
    bool ignore_eos = true;
  };
  // Sends one streamed request and times it; failures are in the record.
  RequestRecord stream(const Options& options, const BenchRequest& request) const;

 private:
  Result<std::string> call(const std::string& method, const std::string& path,
                           const std::string& body, int* status) const;

  ServerAddress address_;
  std::string api_key_;
};

}  // namespace waypoint::bench
