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

#include "proto/engine_core_output.hpp"

namespace waypoint {

// An eventfd. One per HTTP request; shared by the streams of its prompts.
class Waker {
 public:
  Waker();  // throws std::runtime_error when the process is out of descriptors
  ~Waker();
  Waker(const Waker&) = delete;
  Waker& operator=(const Waker&) = delete;

  int fd() const { return fd_; }
  void wake();
  void drain();  // call before reading what woke you

 private:
  int fd_;
};

class RequestStream {
 public:
  explicit RequestStream(std::shared_ptr<Waker> waker) : waker_(std::move(waker)) {}

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

  void push(const EngineCoreOutput& output);
  void fail(const std::string& reason);
  void take(Update& out);  // out is cleared first

 private:
  std::shared_ptr<Waker> waker_;
  std::mutex mutex_;
  Update pending_;
  bool had_output_ = false;
};

}  // namespace waypoint
