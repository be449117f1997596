#include "telemetry/event_publisher.hpp"

#include <utility>

namespace waypoint {

namespace {

double epoch_seconds_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

EventPublisher::EventPublisher(zmq::context_t& context, std::string endpoint, std::string producer)
    : EventPublisher(context, std::move(endpoint), std::move(producer), Options{}) {}

EventPublisher::EventPublisher(zmq::context_t& context, std::string endpoint, std::string producer,
                               Options options)
    : producer_(std::move(producer)), options_(options), socket_(context, zmq::socket_type::pub) {
  // A plain PUB drops silently at the high-water mark; with NODROP a send
  // with dontwait says EAGAIN instead, so the drop can be counted.
  socket_.set(zmq::sockopt::xpub_nodrop, 1);
  socket_.set(zmq::sockopt::sndhwm, options_.send_hwm);
  socket_.set(zmq::sockopt::linger, 200);
  socket_.connect(endpoint);
  thread_ = std::thread([this] { run(); });
}

EventPublisher::~EventPublisher() {
  flush(std::chrono::milliseconds(200));
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
    // Whatever the hub could not take in time is lost, and said so.
    dropped_.fetch_add(queue_.size(), std::memory_order_relaxed);
    queue_.clear();
  }
  wake_.notify_all();
  thread_.join();
}

void EventPublisher::publish(std::string_view topic, std::vector<HubEvent> events) {
  publish(topic, producer_, std::move(events));
}

void EventPublisher::publish(std::string_view topic, std::string producer,
                             std::vector<HubEvent> events) {
  enqueue(Pending{std::string(topic), std::move(producer), std::move(events), {}});
}

void EventPublisher::publish_deferred(std::string_view topic, std::string producer,
                                      MakeEvents make) {
  enqueue(Pending{std::string(topic), std::move(producer), {}, std::move(make)});
}

void EventPublisher::enqueue(Pending pending) {
  {
    std::lock_guard lock(mutex_);
    if (closing_ || queue_.size() >= options_.max_queued_messages) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    queue_.push_back(std::move(pending));
  }
  wake_.notify_one();
}

bool EventPublisher::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return drained_.wait_for(lock, timeout, [&] { return queue_.empty() && in_progress_ == 0; });
}

void EventPublisher::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [&] { return closing_ || !queue_.empty(); });
    if (closing_) return;
    Pending pending = std::move(queue_.front());
    queue_.pop_front();
    ++in_progress_;
    lock.unlock();

    bool sent = false;
    try {
      if (pending.make) pending.events = pending.make();
      // ts is stamped here, not in publish(): it is when the event left this process.
      const std::string payload = encode_hub_payload(
          HubPayload{epoch_seconds_now(), std::move(pending.producer), std::move(pending.events)});
      // Only the first part can meet the high-water mark: once it is
      // accepted, ZMQ takes the rest of the message.
      if (socket_.send(zmq::buffer(pending.topic),
                       zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
        sent = socket_.send(zmq::buffer(payload), zmq::send_flags::dontwait).has_value();
      }
    } catch (const std::exception&) {
      // A closed context or a failed encode loses this message only; it is counted below.
    }
    (sent ? sent_ : dropped_).fetch_add(1, std::memory_order_relaxed);

    lock.lock();
    --in_progress_;
    if (queue_.empty() && in_progress_ == 0) drained_.notify_all();
  }
}

}  // namespace waypoint
