#include "frontend/request_stream.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace waypoint {

Waker::Waker() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!fd_) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
}

void Waker::wake() {
  const uint64_t one = 1;
  // EAGAIN means the counter is saturated: the reader is woken anyway.
  [[maybe_unused]] const ssize_t n = ::write(fd_.get(), &one, sizeof one);
}

void Waker::drain() {
  uint64_t value = 0;
  [[maybe_unused]] const ssize_t n = ::read(fd_.get(), &value, sizeof value);
}

RequestStream::~RequestStream() {
  // No frontend verdict: the engine ended the request (or it was abandoned,
  // which counts as an abort), and the reader kept all it was sent.
  if (!tracker_ || tracker_->finished()) return;
  tracker_->keep(tracker_->num_received());
  const FinishReason reason =
      engine_finish_.value_or(failed_ ? FinishReason::ERROR : FinishReason::ABORT);
  tracker_->finish(reason, engine_finish_ ? engine_finish_time_ : monotonic_now());
}

void RequestStream::track(RequestTracker tracker) {
  std::lock_guard lock(mutex_);
  tracker_.emplace(std::move(tracker));
}

void RequestStream::untrack() {
  std::lock_guard lock(mutex_);
  tracker_.reset();
}

void RequestStream::finish(FinishReason reason, size_t num_output_tokens) {
  std::lock_guard lock(mutex_);
  if (!tracker_ || tracker_->finished()) return;
  tracker_->keep(num_output_tokens);
  tracker_->finish(reason, monotonic_now());
}

void RequestStream::push(const EngineCoreOutput& output, double batch_timestamp) {
  {
    std::lock_guard lock(mutex_);
    if (tracker_) {
      tracker_->events(output.events);
      tracker_->received(output.new_token_ids.size(), batch_timestamp);
    }
    if (output.finish_reason && !engine_finish_) {
      engine_finish_ = output.finish_reason;
      // e2e ends when the frontend learns of the end, as in vLLM.
      engine_finish_time_ = monotonic_now();
    }
    if (!had_output_ && !output.new_token_ids.empty()) {
      had_output_ = true;
      pending_.first_output_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count();
    }
    pending_.token_ids.insert(pending_.token_ids.end(), output.new_token_ids.begin(),
                              output.new_token_ids.end());
    if (output.finish_reason) pending_.finish_reason = output.finish_reason;
    if (output.stop_reason) pending_.stop_reason = output.stop_reason;
    pending_.num_cached_tokens = output.num_cached_tokens;
  }
  waker_->wake();
}

void RequestStream::fail(const std::string& reason) {
  {
    std::lock_guard lock(mutex_);
    pending_.error = reason;
    failed_ = true;
  }
  waker_->wake();
}

void RequestStream::take(Update& out) {
  out.token_ids.clear();
  out.finish_reason.reset();
  out.stop_reason.reset();
  out.error.reset();
  out.first_output_ns.reset();
  std::lock_guard lock(mutex_);
  if (tracker_) {
    // A reader that meets an error stops before the tokens beside it.
    const bool keeps_first = !pending_.token_ids.empty() && !pending_.error;
    tracker_->keep(taken_ + (keeps_first ? 1 : 0));
  }
  taken_ += pending_.token_ids.size();
  std::swap(out, pending_);
}

}  // namespace waypoint
