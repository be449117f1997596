#pragma once
// How one engine request's outputs reach the HTTP thread serving it. The
// engine client's output thread pushes; the HTTP thread sleeps in poll() on
// the waker's eventfd together with its client's socket, so it wakes for new
// tokens and for a client that went away, whichever comes first.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/unique_fd.hpp"
#include "frontend/request_tracker.hpp"
#include "proto/engine_core_output.hpp"

namespace waypoint {

// An eventfd. One per HTTP request; shared by the streams of its prompts.
class Waker {
 public:
  Waker();  // throws std::runtime_error when the process is out of descriptors

  int fd() const { return fd_.get(); }
  void wake();
  void drain();  // call before reading what woke you

 private:
  UniqueFd fd_;
};

// It also carries the request's metrics (RequestTracker): the engine client
// feeds them as outputs arrive, take() tells which tokens the response kept,
// and the request is counted finished exactly once, by whichever comes first:
// finish() from the frontend (stop string, client gone, engine failure), or,
// when the engine ended it, the last owner letting go of the stream.
class RequestStream {
 public:
  explicit RequestStream(std::shared_ptr<Waker> waker) : waker_(std::move(waker)) {}
  ~RequestStream();
  RequestStream(const RequestStream&) = delete;
  RequestStream& operator=(const RequestStream&) = delete;

  // What arrived since the last take().
  struct Update {
    std::vector<TokenId> token_ids;
    std::optional<FinishReason> finish_reason;
    std::optional<TokenId> stop_reason;
    int32_t num_cached_tokens = 0;
    std::optional<std::string> error;  // the engine is gone; no more output will come
    // Set in the one update that brings the first tokens: when the engine
    // client received them (steady clock, ns), for FIRST_RESPONSE_FROM_CORE.
    std::optional<int64_t> first_output_ns;
  };

  // Before the request goes to the engine; untrack() if it never got there.
  void track(RequestTracker tracker);
  void untrack();

  // One output of the engine batch stamped `batch_timestamp` (monotonic s).
  void push(const EngineCoreOutput& output, double batch_timestamp);
  void fail(const std::string& reason);
  // out is cleared first. The reader calls take() again only while it still
  // wants the request's tokens: by then it kept every token of the previous
  // take, and it always keeps the first token of a take.
  void take(Update& out);
  // The frontend ended the request for `reason`, its response keeping the
  // first `num_output_tokens` tokens. Later calls change nothing.
  void finish(FinishReason reason, size_t num_output_tokens);

 private:
  std::shared_ptr<Waker> waker_;
  std::mutex mutex_;
  Update pending_;
  bool had_output_ = false;
  std::optional<RequestTracker> tracker_;
  size_t taken_ = 0;  // tokens handed out by take() so far
  std::optional<FinishReason> engine_finish_;
  double engine_finish_time_ = 0.0;
  bool failed_ = false;
};

}  // namespace waypoint
