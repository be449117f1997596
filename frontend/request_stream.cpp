#include "frontend/request_stream.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace waypoint {

Waker::Waker() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (fd_ < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
}

Waker::~Waker() { ::close(fd_); }

void Waker::wake() {
  const uint64_t one = 1;
  // EAGAIN means the counter is saturated: the reader is woken anyway.
  [[maybe_unused]] const ssize_t n = ::write(fd_, &one, sizeof one);
}

void Waker::drain() {
  uint64_t value = 0;
  [[maybe_unused]] const ssize_t n = ::read(fd_, &value, sizeof value);
}

void RequestStream::push(const EngineCoreOutput& output) {
  {
    std::lock_guard lock(mutex_);
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
  std::swap(out, pending_);
}

}  // namespace waypoint
