#pragma once
// The output processor: what happens to the engine's tokens on their way back
// to the client, as in vLLM's OutputProcessor. Each prompt of an HTTP request
// is one RequestState: its incremental detokenization, stop strings (found
// here, then aborted in the engine), min_tokens, its finish and stop reason,
// and how much of its text and token ids the client has been sent. An
// OutputProcessor holds the states of one HTTP request: it ends them together,
// with the frontend's verdict for the metrics, and adds up their usage.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frontend/engine_client.hpp"
#include "frontend/journey_recorder.hpp"
#include "frontend/openai_protocol.hpp"
#include "frontend/openai_response.hpp"
#include "frontend/request_stream.hpp"
#include "frontend/stop_string_matcher.hpp"
#include "tokenizer/incremental_detokenizer.hpp"
#include "tokenizer/tokenizer.hpp"

namespace waypoint {

class RequestState {
 public:
  RequestState(const Tokenizer& tokenizer, const GenerationParams& params, int32_t index,
               std::string request_id, std::vector<TokenId> prompt_token_ids,
               std::shared_ptr<Waker> waker);

  // Applies what the engine sent since the last call. Returns the reason when
  // the engine is gone and no more will come.
  std::optional<std::string> absorb();
  // The text the client may see now that it has not seen yet: the tail that
  // could still become a stop string is held back until it cannot.
  std::string take_delta();
  // The token ids the client has not been sent yet.
  std::vector<TokenId> take_token_ids();
  // The frontend ends the request itself, for `why`: the metrics count it so,
  // with the tokens the response kept.
  void conclude(FinishReason why);

  int32_t index() const { return index_; }
  const std::string& request_id() const { return request_id_; }
  const std::vector<TokenId>& prompt_token_ids() const { return prompt_token_ids_; }
  const std::vector<TokenId>& token_ids() const { return token_ids_; }
  const std::string& text() const { return text_; }
  bool finished() const { return finished_; }
  // A stop string ended it here, so the engine must be told to stop it.
  bool stopped_here() const { return stopped_here_; }
  // "stop", "length", "abort", "error"; empty while it runs.
  const std::string& finish_reason() const { return finish_reason_; }
  const std::optional<StopReason>& stop_reason() const { return stop_reason_; }
  // Set by the absorb() that brought the first tokens: when the engine client
  // received them (steady clock, ns).
  std::optional<int64_t> first_output_ns() const { return update_.first_output_ns; }
  const std::shared_ptr<RequestStream>& stream() const { return stream_; }
  ApiJourney& journey() { return journey_; }
  // The request never reached the engine.
  void mark_unsent() { finished_ = true; }

 private:
  void append(const std::string& piece, bool detect);

  int32_t index_;
  std::string request_id_;
  std::vector<TokenId> prompt_token_ids_;
  std::shared_ptr<RequestStream> stream_;
  IncrementalDetokenizer detokenizer_;
  StopStringMatcher matcher_;
  int32_t min_tokens_;
  std::string text_;
  size_t text_sent_ = 0;
  std::vector<TokenId> token_ids_;
  size_t token_ids_sent_ = 0;
  bool finished_ = false;
  bool stopped_here_ = false;
  std::string finish_reason_;
  std::optional<StopReason> stop_reason_;
  RequestStream::Update update_;
  ApiJourney journey_;  // untraced unless sampled
};

class OutputProcessor {
 public:
  // Throws std::runtime_error when the process is out of descriptors (Waker).
  explicit OutputProcessor(EngineClient& engine)
      : engine_(engine), waker_(std::make_shared<Waker>()) {}

  // A new request state, woken with the others when the engine sends.
  RequestState& add(const Tokenizer& tokenizer, const GenerationParams& params, int32_t index,
                    std::string request_id, std::vector<TokenId> prompt_token_ids);
  // In prompt order.
  const std::vector<std::unique_ptr<RequestState>>& states() const { return states_; }
  // Readable when any of the requests has news from the engine.
  Waker& waker() { return *waker_; }

  // Ends every request still running, for `why` (the client gone: ABORT, the
  // engine failing: ERROR; one a stop string ended stays STOP), tells the
  // engine, and ends every traced journey ABORTED with `reason`.
  void abort_unfinished(std::string_view reason, FinishReason why = FinishReason::ABORT);
  // Tells the engine to stop the requests a stop string just ended.
  void abort_stopped(const std::vector<RequestState*>& stopped);
  size_t num_unfinished() const;
  Usage usage() const;
  // The finished choices, for a whole (not streamed) response.
  std::vector<ChoiceResult> results(bool with_token_ids) const;
  // Every journey ends DEPARTED: the whole response is out.
  void departed();

 private:
  EngineClient& engine_;
  std::shared_ptr<Waker> waker_;  // one per HTTP request, shared by its streams
  std::vector<std::unique_ptr<RequestState>> states_;
};

}  // namespace waypoint
