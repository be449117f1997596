// The event hub's three-part message (docs/architecture.md, "Observability"). Subscribers may be
// written in any language, so the payload must be plain, self-describing
// msgpack and the sequence number a fixed big-endian u64.
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <msgpack.hpp>

#include "proto/event_hub_frame.hpp"

namespace waypoint {
namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

template <class F>
std::string packed(F write) {
  msgpack::sbuffer buffer;
  Packer pk(buffer);
  write(pk);
  return std::string(buffer.data(), buffer.size());
}

HubPayload sample_payload() {
  HubPayload p;
  p.ts = 1732380000.25;
  p.producer = "engine-0";
  p.events.push_back(HubEvent{{{"event.type", std::string("SCHEDULED")},
                               {"request.id", std::string("cmpl-3f2a9c1e0b7d4e5f-0")},
                               {"scheduler.step", int64_t{41}}}});
  p.events.push_back(HubEvent{
      {{"event.type", std::string("FINISHED")}, {"finish.status", std::string("stopped")}}});
  return p;
}

std::string seq_bytes(uint64_t seq) {
  const auto a = encode_seq(seq);
  return std::string(a.data(), a.size());
}

TEST(proto_event_hub_frame, FrameRoundTrip) {
  const HubFrame frame{std::string(kTopicJourney), 0x0102030405060708,
                       encode_hub_payload(sample_payload())};
  const auto parts = encode_hub_frame(frame);
  EXPECT_EQ(parts[0], "journey");
  EXPECT_EQ(parts[1], seq_bytes(frame.seq));
  EXPECT_EQ(parts[2], frame.payload);

  auto back = decode_hub_frame({parts[0], parts[1], parts[2]});
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, frame);
}

TEST(proto_event_hub_frame, SeqIsBigEndian) {
  const std::string bytes = seq_bytes(0x0102030405060708);
  ASSERT_EQ(bytes.size(), 8u);
  for (std::size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(static_cast<uint8_t>(bytes[i]), i + 1) << "byte " << i;
  }
  auto back = decode_seq(bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, 0x0102030405060708u);
  EXPECT_EQ(seq_bytes(1), std::string("\0\0\0\0\0\0\0\x01", 8));
}

TEST(proto_event_hub_frame, ReplayEndIsAllOnes) {
  EXPECT_EQ(seq_bytes(kReplayEndSeq), std::string(8, '\xff'));
  auto back = decode_seq(std::string(8, '\xff'));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, kReplayEndSeq);
  EXPECT_EQ(*back, std::numeric_limits<uint64_t>::max());
}

TEST(proto_event_hub_frame, SeqOfTheWrongSizeIsRefused) {
  for (std::size_t n : {0u, 1u, 7u, 9u, 16u}) {
    auto r = decode_seq(std::string(n, '\x01'));
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.error().message, "sequence frame must be 8 bytes, got " + std::to_string(n));
  }
}

TEST(proto_event_hub_frame, MalformedFramesAreRefused) {
  const std::string seq = seq_bytes(3);
  EXPECT_FALSE(decode_hub_frame({}).ok());
  EXPECT_FALSE(decode_hub_frame({"journey", seq}).ok());
  EXPECT_FALSE(decode_hub_frame({"journey", seq, "x", "y"}).ok());
  EXPECT_FALSE(decode_hub_frame({"journey", "1234567", "x"}).ok());
  auto r = decode_hub_frame({"", seq, "x"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "hub message has an empty topic");
}

TEST(proto_event_hub_frame, PayloadRoundTripsEveryAttributeKind) {
  HubPayload p;
  p.ts = 1732380000.125;
  p.producer = "engine-3";
  p.events.push_back(HubEvent{{
      {"nil", AttrValue{}},
      {"true", true},
      {"false", false},
      {"zero", int64_t{0}},
      {"negative", int64_t{-42}},
      {"int.min", std::numeric_limits<int64_t>::min()},
      {"int.max", std::numeric_limits<int64_t>::max()},
      {"double", 0.8125},
      {"negative.double", -3.75},
      {"empty", std::string()},
      {"string", std::string("cmpl-3f2a9c1e0b7d4e5f-0")},
  }});
  p.events.push_back(HubEvent{});  // an event with no attributes is still an event
  auto back = decode_hub_payload(encode_hub_payload(p));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, p);

  const HubEvent& e = back->events[0];
  ASSERT_NE(e.find("negative"), nullptr);
  EXPECT_EQ(std::get<int64_t>(*e.find("negative")), -42);
  ASSERT_NE(e.find("nil"), nullptr);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(*e.find("nil")));
  EXPECT_EQ(e.find("no.such.key"), nullptr);
}

// A double attribute that happens to be whole (a 2.0 s latency) must come back
// as a double, not turn into an integer attribute.
TEST(proto_event_hub_frame, WholeDoublesStayDoubles) {
  HubPayload p;
  p.ts = 1732380000.0;
  p.producer = "engine-0";
  p.events.push_back(HubEvent{{{"latency.s", 2.0}, {"zero", 0.0}, {"minus.one", -1.0}}});
  auto back = decode_hub_payload(encode_hub_payload(p));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, p);
  EXPECT_TRUE(std::holds_alternative<double>(*back->events[0].find("latency.s")));

  // A negative timestamp is nonsense for epoch seconds but must not be refused
  // just because it is whole.
  p.ts = -1.0;
  auto negative = decode_hub_payload(encode_hub_payload(p));
  ASSERT_TRUE(negative.ok()) << negative.error().message;
  EXPECT_EQ(negative->ts, -1.0);
}

// Other producers may write ts as an integer and float32 values.
TEST(proto_event_hub_frame, PayloadAcceptsOtherNumberEncodings) {
  const std::string bytes = packed([](Packer& pk) {
    pk.pack_map(3);
    pk.pack("ts");
    pk.pack(uint64_t{1732380000});
    pk.pack("producer");
    pk.pack("python-replayer");
    pk.pack("events");
    pk.pack_array(1);
    pk.pack_map(1);
    pk.pack("ratio");
    pk.pack_float(0.5f);
  });
  auto p = decode_hub_payload(bytes);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->ts, 1732380000.0);
  EXPECT_EQ(std::get<double>(*p->events[0].find("ratio")), 0.5);
}

TEST(proto_event_hub_frame, PayloadIgnoresUnknownTopLevelKeys) {
  const std::string bytes = packed([](Packer& pk) {
    pk.pack_map(5);
    pk.pack("schema");
    pk.pack(2);
    pk.pack("ts");
    pk.pack(1.5);
    pk.pack("producer");
    pk.pack("engine-1");
    pk.pack("hostname.tags");
    pk.pack(std::vector<std::string>{"a", "b"});
    pk.pack("events");
    pk.pack_array(1);
    pk.pack_map(1);
    pk.pack("event.type");
    pk.pack("QUEUED");
  });
  auto p = decode_hub_payload(bytes);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->ts, 1.5);
  EXPECT_EQ(p->producer, "engine-1");
  ASSERT_EQ(p->events.size(), 1u);
  EXPECT_EQ(std::get<std::string>(*p->events[0].find("event.type")), "QUEUED");
}

TEST(proto_event_hub_frame, PayloadThatIsNotAMapIsRefused) {
  auto r = decode_hub_payload(packed([](Packer& pk) { pk.pack_array(0); }));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "hub payload must be a map");
  EXPECT_FALSE(decode_hub_payload(packed([](Packer& pk) { pk.pack("events"); })).ok());
  EXPECT_FALSE(decode_hub_payload("").ok());
}

TEST(proto_event_hub_frame, NonStringKeysAreRefused) {
  auto top = decode_hub_payload(packed([](Packer& pk) {
    pk.pack_map(2);
    pk.pack(1);
    pk.pack("x");
    pk.pack("events");
    pk.pack_array(0);
  }));
  ASSERT_FALSE(top.ok());
  EXPECT_EQ(top.error().message, "hub payload key must be a string");

  auto inner = decode_hub_payload(packed([](Packer& pk) {
    pk.pack_map(1);
    pk.pack("events");
    pk.pack_array(1);
    pk.pack_map(1);
    pk.pack(7);
    pk.pack("x");
  }));
  ASSERT_FALSE(inner.ok());
  EXPECT_EQ(inner.error().message, "event key must be a string");
}

TEST(proto_event_hub_frame, BadPayloadFieldsAreRefused) {
  auto no_events = decode_hub_payload(packed([](Packer& pk) {
    pk.pack_map(1);
    pk.pack("ts");
    pk.pack(1.0);
  }));
  ASSERT_FALSE(no_events.ok());
  EXPECT_EQ(no_events.error().message, "hub payload has no events");

  const auto one_field = [](const char* key, auto value) {
    return packed([&](Packer& pk) {
      pk.pack_map(2);
      pk.pack("events");
      pk.pack_array(0);
      pk.pack(key);
      pk.pack(value);
    });
  };
  EXPECT_FALSE(decode_hub_payload(one_field("ts", "now")).ok());
  EXPECT_FALSE(decode_hub_payload(one_field("producer", 3)).ok());
  EXPECT_FALSE(decode_hub_payload(one_field("events", 3)).ok());

  // Events must be maps, and attribute values scalars or integer lists.
  EXPECT_FALSE(decode_hub_payload(packed([](Packer& pk) {
                 pk.pack_map(1);
                 pk.pack("events");
                 pk.pack_array(1);
                 pk.pack("QUEUED");
               })).ok());
  EXPECT_FALSE(decode_hub_payload(packed([](Packer& pk) {
                 pk.pack_map(1);
                 pk.pack("events");
                 pk.pack_array(1);
                 pk.pack_map(1);
                 pk.pack("map");
                 pk.pack(std::map<std::string, int>{{"a", 1}});
               })).ok());
  // An integer attribute too large for int64 cannot be represented.
  EXPECT_FALSE(decode_hub_payload(packed([](Packer& pk) {
                 pk.pack_map(1);
                 pk.pack("events");
                 pk.pack_array(1);
                 pk.pack_map(1);
                 pk.pack("big");
                 pk.pack(std::numeric_limits<uint64_t>::max());
               })).ok());
}

// KV events carry block hashes (64-bit, so negative as int64) and token ids.
TEST(proto_event_hub_frame, IntListsRoundTrip) {
  HubPayload p;
  p.ts = 1732380000.5;
  p.producer = "engine-0";
  p.events.push_back(HubEvent{{
      {"event.type", std::string("kv.BlockStored")},
      {"kv.block_hashes", std::vector<int64_t>{std::numeric_limits<int64_t>::min(), -1, 0,
                                               std::numeric_limits<int64_t>::max()}},
      {"kv.token_ids", std::vector<int64_t>{1, 127, 128, 65535, 65536, 1 << 30}},
      {"empty", std::vector<int64_t>{}},
  }});
  const std::string bytes = encode_hub_payload(p);
  auto back = decode_hub_payload(bytes);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, p);
  EXPECT_TRUE(std::holds_alternative<std::vector<int64_t>>(*back->events[0].find("empty")));

  // Any msgpack reader sees a plain array of integers.
  const msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size());
  const auto root = handle->as<std::map<std::string, msgpack::object>>();
  const auto events = root.at("events").as<std::vector<msgpack::object>>();
  const auto first = events[0].as<std::map<std::string, msgpack::object>>();
  ASSERT_EQ(first.at("kv.token_ids").type, msgpack::type::ARRAY);
  EXPECT_EQ(first.at("kv.token_ids").as<std::vector<int64_t>>(),
            (std::vector<int64_t>{1, 127, 128, 65535, 65536, 1 << 30}));
}

TEST(proto_event_hub_frame, ListWithANonIntegerIsRefused) {
  const auto list_of = [](auto write_items) {
    return packed([&](Packer& pk) {
      pk.pack_map(1);
      pk.pack("events");
      pk.pack_array(1);
      pk.pack_map(1);
      pk.pack("kv.token_ids");
      write_items(pk);
    });
  };
  auto with_string = decode_hub_payload(list_of([](Packer& pk) {
    pk.pack_array(3);
    pk.pack(1);
    pk.pack(2);
    pk.pack("three");
  }));
  ASSERT_FALSE(with_string.ok());
  EXPECT_EQ(with_string.error().message,
            "event attribute 'kv.token_ids': list attribute item 2 is not an integer");
  EXPECT_FALSE(decode_hub_payload(list_of([](Packer& pk) {
                 pk.pack_array(2);
                 pk.pack(1);
                 pk.pack(0.5);
               })).ok());
  EXPECT_FALSE(decode_hub_payload(list_of([](Packer& pk) {
                 pk.pack_array(1);
                 pk.pack_nil();
               })).ok());
  EXPECT_FALSE(decode_hub_payload(list_of([](Packer& pk) {
                 pk.pack_array(1);
                 pk.pack(std::vector<int>{1});
               })).ok());
  EXPECT_FALSE(decode_hub_payload(list_of([](Packer& pk) {
                 pk.pack_array(1);
                 pk.pack(std::numeric_limits<uint64_t>::max());
               })).ok());
}

TEST(proto_event_hub_frame, ReplayEndMarker) {
  EXPECT_EQ(kTopicReplayEnd, "replay.end");
  const auto parts = encode_hub_frame(HubFrame{std::string(kTopicReplayEnd), kReplayEndSeq, ""});
  auto back = decode_hub_frame({parts[0], parts[1], parts[2]});
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->topic, kTopicReplayEnd);
  EXPECT_EQ(back->seq, kReplayEndSeq);
  EXPECT_TRUE(back->payload.empty());
}

// Read the payload as any msgpack library would, knowing nothing of HubPayload.
TEST(proto_event_hub_frame, PayloadIsSelfDescribing) {
  const std::string bytes = encode_hub_payload(sample_payload());
  const msgpack::object_handle handle = msgpack::unpack(bytes.data(), bytes.size());
  ASSERT_EQ(handle->type, msgpack::type::MAP);
  const auto root = handle->as<std::map<std::string, msgpack::object>>();
  ASSERT_TRUE(root.count("ts"));
  ASSERT_TRUE(root.count("producer"));
  ASSERT_TRUE(root.count("events"));
  EXPECT_EQ(root.at("ts").as<double>(), 1732380000.25);
  EXPECT_EQ(root.at("producer").as<std::string>(), "engine-0");

  const auto events = root.at("events").as<std::vector<msgpack::object>>();
  ASSERT_EQ(events.size(), 2u);
  ASSERT_EQ(events[0].type, msgpack::type::MAP);
  const auto first = events[0].as<std::map<std::string, msgpack::object>>();
  ASSERT_TRUE(first.count("event.type"));
  EXPECT_EQ(first.at("event.type").as<std::string>(), "SCHEDULED");
  EXPECT_EQ(first.at("scheduler.step").as<int64_t>(), 41);
}

}  // namespace
}  // namespace waypoint
