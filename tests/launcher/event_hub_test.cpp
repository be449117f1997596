// The event hub and its producers' publisher (docs/architecture.md, "Observability"), over real
// sockets: sequence stamping, replay, the buffer bound, malformed intake, and
// that neither a missing hub nor a slow subscriber ever blocks anyone.
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "launcher/event_hub.hpp"
#include "proto/event_hub_frame.hpp"
#include "telemetry/event_publisher.hpp"
#include "telemetry/trace_attributes.hpp"
#include "tests/launcher/hub_test_support.hpp"

namespace waypoint {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::ipc_endpoint;
using testing::receive;
using testing::receive_frame;
using testing::Replay;
using testing::replay;
using testing::replay_from;
using testing::ScratchDir;
using testing::send_parts;
using testing::seq_bytes;

template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

HubEvent event_of(std::string_view type, std::string request_id = {}) {
  HubEvent e;
  e.attrs.emplace_back(std::string(attr::kEventType), std::string(type));
  if (!request_id.empty()) e.attrs.emplace_back(std::string(attr::kRequestId), request_id);
  return e;
}

std::string payload_of(std::string_view type, std::string padding = {}) {
  HubEvent e = event_of(type);
  if (!padding.empty()) e.attrs.emplace_back("padding", std::move(padding));
  return encode_hub_payload(HubPayload{1.0, "test", {std::move(e)}});
}

// A producer whose first message is never lost: an XPUB (a PUB that sees
// its subscribers) on the hub's intake, ready once the hub's subscription has
// arrived. NODROP and blocking sends: nothing is lost before the hub.
class RawProducer {
 public:
  RawProducer(zmq::context_t& context, const std::string& intake)
      : socket_(context, zmq::socket_type::xpub) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::xpub_nodrop, 1);
    socket_.connect(intake);
    auto subscription = receive(socket_, 10s);
    if (!subscription || *subscription != std::vector<std::string>{std::string(1, '\x01')}) {
      throw std::runtime_error("the hub did not subscribe to everything");
    }
  }
  void send(const std::vector<std::string>& parts) { send_parts(socket_, parts); }

 private:
  zmq::socket_t socket_;
};

zmq::socket_t subscriber(zmq::context_t& context, const std::string& endpoint, int rcvhwm = 1000) {
  zmq::socket_t sub(context, zmq::socket_type::sub);
  sub.set(zmq::sockopt::linger, 0);
  sub.set(zmq::sockopt::rcvhwm, rcvhwm);
  sub.set(zmq::sockopt::subscribe, "");
  sub.connect(endpoint);
  return sub;
}

std::vector<uint64_t> seqs_of(const std::vector<HubFrame>& frames) {
  std::vector<uint64_t> out;
  for (const auto& f : frames) out.push_back(f.seq);
  return out;
}

std::vector<uint64_t> range(uint64_t from, uint64_t to) {  // [from, to)
  std::vector<uint64_t> out;
  for (uint64_t s = from; s < to; ++s) out.push_back(s);
  return out;
}

class event_hub : public ::testing::Test {
 protected:
  EventHubConfig config(size_t buffer_messages = 10000, int subscriber_hwm = 10000) const {
    return EventHubConfig{ipc_endpoint(dir_, "intake"), "tcp://127.0.0.1:*", "tcp://127.0.0.1:*",
                          buffer_messages, subscriber_hwm};
  }

  zmq::context_t context_;
  ScratchDir dir_;
};

TEST_F(event_hub, BindsEphemeralPortsAndNamesAFailedFlag) {
  EventHub hub(context_, config());
  EXPECT_EQ(hub.publish_endpoint().rfind("tcp://127.0.0.1:", 0), 0u);
  EXPECT_EQ(hub.publish_endpoint().find('*'), std::string::npos);
  EXPECT_NE(hub.publish_endpoint(), hub.replay_endpoint());
  EXPECT_EQ(hub.messages(), 0u);

  EventHubConfig taken = config();
  taken.intake_endpoint = ipc_endpoint(dir_, "intake2");
  taken.publish_endpoint = hub.publish_endpoint();
  try {
    EventHub second(context_, taken);
    FAIL() << "a second hub bound " << taken.publish_endpoint;
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot bind --event-endpoint " + hub.publish_endpoint() +
                                         ": Address already in use");
  }
  taken.intake_endpoint = ipc_endpoint(dir_, "intake3");
  taken.publish_endpoint = "tcp://127.0.0.1:*";
  taken.replay_endpoint = hub.replay_endpoint();
  try {
    EventHub second(context_, taken);
    FAIL() << "a second hub bound " << taken.replay_endpoint;
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot bind --event-replay-endpoint " +
                                         hub.replay_endpoint() + ": Address already in use");
  }
}

// Publisher -> hub -> subscriber: every message gets the next seq, across
// topics, and its payload arrives as the producer encoded it.
TEST_F(event_hub, StampsConsecutiveSeqAcrossTopics) {
  EventHub hub(context_, config());
  zmq::socket_t sub = subscriber(context_, hub.publish_endpoint());
  EventPublisher publisher(context_, hub.intake_endpoint(), "engine-0");

  // Connections come up asynchronously: heartbeat until one arrives.
  std::vector<HubFrame> received;
  for (int i = 0; i < 1000 && received.empty(); ++i) {
    publisher.publish("heartbeat", {event_of("test.HEARTBEAT")});
    if (auto f = receive_frame(sub, 10ms)) received.push_back(*f);
  }
  ASSERT_FALSE(received.empty()) << "no heartbeat came through the hub";
  ASSERT_TRUE(publisher.flush(5s));

  const double before =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const std::vector<std::pair<std::string_view, HubEvent>> sent = {
      {kTopicJourney, event_of(event_name::kQueued, "req-1")},
      {kTopicStep, event_of(event_name::kBatchSummary)},
      {kTopicKv, event_of(event_name::kBlockStored)},
      {kTopicJourney, event_of(event_name::kFinished, "req-1")},
  };
  for (const auto& [topic, event] : sent) publisher.publish(topic, {event});
  publisher.publish(kTopicJourney, "frontend-0", {event_of(event_name::kArrived, "req-2")});

  size_t real = 0;
  while (real < sent.size() + 1) {
    auto f = receive_frame(sub, 10s);
    ASSERT_TRUE(f) << "after " << real << " messages";
    received.push_back(*f);
    if (f->topic != "heartbeat") ++real;
  }
  const double after =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();

  // Every heartbeat still in flight came first, then ours: no seq skipped.
  for (size_t i = 1; i < received.size(); ++i) {
    EXPECT_EQ(received[i].seq, received[i - 1].seq + 1) << i;
  }
  const std::vector<HubFrame> ours(received.end() - static_cast<long>(sent.size() + 1),
                                   received.end());
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(ours[i].topic, sent[i].first);
    auto payload = decode_hub_payload(ours[i].payload);
    ASSERT_TRUE(payload.ok()) << payload.error().message;
    EXPECT_EQ(payload->producer, "engine-0");
    ASSERT_EQ(payload->events.size(), 1u);
    EXPECT_EQ(payload->events[0], sent[i].second);
    EXPECT_GE(payload->ts, before);
    EXPECT_LE(payload->ts, after);
  }
  auto renamed = decode_hub_payload(ours.back().payload);
  ASSERT_TRUE(renamed.ok());
  EXPECT_EQ(renamed->producer, "frontend-0");

  EXPECT_EQ(hub.messages(), ours.back().seq + 1);
  EXPECT_EQ(hub.malformed(), 0u);
  EXPECT_EQ(publisher.dropped(), 0u);

  // The hub's count started at 0: the replay holds every seq from 0 on.
  const Replay all = replay_from(context_, hub.replay_endpoint(), 0);
  EXPECT_TRUE(all.ended);
  EXPECT_EQ(seqs_of(all.frames), range(0, hub.messages()));
}

TEST_F(event_hub, MalformedIntakeIsCountedAndDropped) {
  EventHub hub(context_, config());
  RawProducer producer(context_, hub.intake_endpoint());
  producer.send({"journey"});
  producer.send({"journey", seq_bytes(7), payload_of("x")});
  producer.send({"", payload_of("x")});
  producer.send({"journey", payload_of(event_name::kQueued)});
  ASSERT_TRUE(wait_until([&] { return hub.messages() == 1; }));
  EXPECT_EQ(hub.malformed(), 3u);

  // The hub lives on: the good message got seq 0 and more keep coming.
  producer.send({"step", payload_of(event_name::kBatchSummary)});
  ASSERT_TRUE(wait_until([&] { return hub.messages() == 2; }));
  const Replay r = replay_from(context_, hub.replay_endpoint(), 0);
  ASSERT_TRUE(r.ended);
  ASSERT_EQ(r.frames.size(), 2u);
  EXPECT_EQ(r.frames[0], (HubFrame{"journey", 0, payload_of(event_name::kQueued)}));
  EXPECT_EQ(r.frames[1], (HubFrame{"step", 1, payload_of(event_name::kBatchSummary)}));
}

TEST_F(event_hub, ReplayFromZeroAndFromTheMiddle) {
  EventHub hub(context_, config());
  RawProducer producer(context_, hub.intake_endpoint());
  const std::vector<std::string> topics = {"journey", "step", "kv", "journey", "custom"};
  for (size_t i = 0; i < topics.size(); ++i) {
    producer.send({topics[i], payload_of("event-" + std::to_string(i))});
  }
  ASSERT_TRUE(wait_until([&] { return hub.messages() == topics.size(); }));

  const Replay all = replay_from(context_, hub.replay_endpoint(), 0);
  ASSERT_TRUE(all.ended);
  ASSERT_EQ(all.frames.size(), topics.size());
  for (size_t i = 0; i < topics.size(); ++i) {
    EXPECT_EQ(all.frames[i], (HubFrame{topics[i], i, payload_of("event-" + std::to_string(i))}));
  }

  EXPECT_EQ(seqs_of(replay_from(context_, hub.replay_endpoint(), 3).frames), range(3, 5));
  EXPECT_EQ(seqs_of(replay_from(context_, hub.replay_endpoint(), 4).frames), range(4, 5));
  // From the next seq, or beyond it: nothing, but still the end marker.
  for (uint64_t start : {uint64_t{5}, uint64_t{1000}, kReplayEndSeq - 1}) {
    const Replay none = replay_from(context_, hub.replay_endpoint(), start);
    EXPECT_TRUE(none.ended) << start;
    EXPECT_TRUE(none.frames.empty()) << start;
  }
}

TEST_F(event_hub, MalformedReplayRequestGetsTheEndMarkerAlone) {
  EventHub hub(context_, config());
  RawProducer producer(context_, hub.intake_endpoint());
  producer.send({"journey", payload_of("x")});
  ASSERT_TRUE(wait_until([&] { return hub.messages() == 1; }));

  for (const auto& request : std::vector<std::vector<std::string>>{
           {"1234567"}, {std::string(9, '\0')}, {""}, {seq_bytes(0), seq_bytes(0)}}) {
    const Replay r = replay(context_, hub.replay_endpoint(), request);
    EXPECT_TRUE(r.ended);
    EXPECT_TRUE(r.frames.empty());
  }
  // Still serving well-formed ones.
  EXPECT_EQ(replay_from(context_, hub.replay_endpoint(), 0).frames.size(), 1u);
}

TEST_F(event_hub, BufferKeepsTheLastMessages) {
  EventHub hub(context_, config(/*buffer_messages=*/4));
  RawProducer producer(context_, hub.intake_endpoint());
  for (int i = 0; i < 10; ++i) producer.send({"step", payload_of("step-" + std::to_string(i))});
  ASSERT_TRUE(wait_until([&] { return hub.messages() == 10; }));

  const Replay from_start = replay_from(context_, hub.replay_endpoint(), 0);
  ASSERT_TRUE(from_start.ended);
  EXPECT_EQ(seqs_of(from_start.frames), range(6, 10));
  EXPECT_EQ(from_start.frames[0].payload, payload_of("step-6"));
  EXPECT_EQ(seqs_of(replay_from(context_, hub.replay_endpoint(), 8).frames), range(8, 10));
}

TEST_F(event_hub, NoBufferReplaysOnlyTheEndMarker) {
  EventHub hub(context_, config(/*buffer_messages=*/0));
  RawProducer producer(context_, hub.intake_endpoint());
  producer.send({"step", payload_of("x")});
  ASSERT_TRUE(wait_until([&] { return hub.messages() == 1; }));
  const Replay r = replay_from(context_, hub.replay_endpoint(), 0);
  EXPECT_TRUE(r.ended);
  EXPECT_TRUE(r.frames.empty());
}

// With nobody bound at the endpoint, publish() still returns at once and
// every message is accounted for, sent (to no one) or dropped.
TEST_F(event_hub, PublisherWithoutAHubNeverBlocks) {
  constexpr uint64_t kMessages = 100000;
  EventPublisher publisher(context_, ipc_endpoint(dir_, "nobody-binds-this"), "engine-0");
  for (uint64_t i = 0; i < kMessages; ++i) {
    publisher.publish(kTopicStep, {event_of(event_name::kBatchSummary)});
  }
  ASSERT_TRUE(publisher.flush(30s));
  EXPECT_EQ(publisher.sent() + publisher.dropped(), kMessages);
}

// A hub that takes nothing: the publisher meets the high-water mark and
// drops (NODROP turns ZMQ's silent drop into EAGAIN, counted), never blocks.
TEST_F(event_hub, PublisherCountsDropsAtTheHighWaterMark) {
  zmq::socket_t stuck(context_, zmq::socket_type::xsub);
  stuck.set(zmq::sockopt::linger, 0);
  stuck.set(zmq::sockopt::rcvhwm, 10);
  stuck.bind(ipc_endpoint(dir_, "stuck"));
  const char subscribe_all = '\x01';
  stuck.send(zmq::const_buffer(&subscribe_all, 1), zmq::send_flags::none);

  EventPublisher::Options options;
  options.max_queued_messages = 1 << 20;  // every drop is then ZMQ's high-water mark
  options.send_hwm = 10;
  EventPublisher publisher(context_, ipc_endpoint(dir_, "stuck"), "engine-0", options);
  uint64_t published = 0;
  bool connected = false;
  for (int i = 0; i < 1000 && !connected; ++i) {
    publisher.publish("heartbeat", {event_of("test.HEARTBEAT")});
    ++published;
    connected = receive(stuck, 10ms).has_value();
  }
  ASSERT_TRUE(connected);

  // Far more than the pipes and the kernel's socket buffers hold.
  constexpr uint64_t kMessages = 20000;
  for (uint64_t i = 0; i < kMessages; ++i) {
    HubEvent e = event_of(event_name::kBlockStored);
    e.attrs.emplace_back("padding", std::string(2048, 'x'));
    publisher.publish(kTopicKv, {std::move(e)});
  }
  published += kMessages;
  ASSERT_TRUE(publisher.flush(30s));
  EXPECT_EQ(publisher.sent() + publisher.dropped(), published);
  EXPECT_GT(publisher.dropped(), 0u);
  EXPECT_LT(publisher.sent(), published);
}

// A queue bound of N: what does not fit while the sender is busy is dropped
// at publish(), and counted.
TEST_F(event_hub, PublisherQueueBoundDropsAndCounts) {
  EventPublisher::Options options;
  options.max_queued_messages = 1;
  EventPublisher publisher(context_, ipc_endpoint(dir_, "nobody"), "engine-0", options);
  for (int i = 0; i < 10000; ++i) publisher.publish(kTopicStep, {});
  ASSERT_TRUE(publisher.flush(10s));
  EXPECT_EQ(publisher.sent() + publisher.dropped(), 10000u);
}

// A subscriber that stops reading loses messages at its high-water mark (and
// sees the gap); the hub and every other subscriber go on, in order.
TEST_F(event_hub, SlowSubscriberDoesNotBlockTheHub) {
  EventHub hub(context_, config(/*buffer_messages=*/100, /*subscriber_hwm=*/1000));
  RawProducer producer(context_, hub.intake_endpoint());
  zmq::socket_t fast = subscriber(context_, hub.publish_endpoint());
  zmq::socket_t slow = subscriber(context_, hub.publish_endpoint(), /*rcvhwm=*/1);

  // Both subscriptions in place: each has received a heartbeat.
  bool fast_up = false, slow_up = false;
  for (int i = 0; i < 1000 && !(fast_up && slow_up); ++i) {
    producer.send({"heartbeat", payload_of("test.HEARTBEAT")});
    while (receive(fast, 1ms)) fast_up = true;
    while (receive(slow, 1ms)) slow_up = true;
  }
  ASSERT_TRUE(fast_up && slow_up);
  while (receive(fast, 20ms)) {
  }
  while (receive(slow, 20ms)) {
  }
  const uint64_t first = hub.messages();

  // In batches the fast one reads before the next is sent: it keeps up, by
  // construction, while the slow one's pipes fill and overflow.
  constexpr uint64_t kMessages = 20000;
  constexpr uint64_t kBatch = 500;
  const std::string padding(2048, 'p');
  std::vector<uint64_t> fast_seqs;
  while (fast_seqs.size() < kMessages) {
    for (uint64_t i = 0; i < kBatch; ++i) {
      producer.send({"step", payload_of(event_name::kBatchSummary, padding)});
    }
    for (uint64_t i = 0; i < kBatch; ++i) {
      auto f = receive_frame(fast, 10s);
      ASSERT_TRUE(f) << "the fast subscriber stopped after " << fast_seqs.size();
      fast_seqs.push_back(f->seq);
    }
  }
  EXPECT_EQ(fast_seqs, range(first, first + kMessages));
  EXPECT_EQ(hub.messages(), first + kMessages);

  // The slow one kept what fitted, from the start and in order; the next
  // message it gets shows the gap.
  std::vector<uint64_t> slow_seqs;
  while (auto f = receive_frame(slow, 200ms)) slow_seqs.push_back(f->seq);
  ASSERT_LT(slow_seqs.size(), kMessages);
  EXPECT_EQ(slow_seqs, range(first, first + slow_seqs.size()));
  producer.send({"step", payload_of("after")});
  auto next = receive_frame(slow, 10s);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->seq, first + kMessages);
}

}  // namespace
}  // namespace waypoint
