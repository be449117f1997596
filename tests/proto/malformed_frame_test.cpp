// docs/architecture.md, "Wire contract": a malformed frame is dropped, it never crashes a process.
// Every case here must come back as an Error value with a useful message.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <msgpack.hpp>

#include "proto/codec.hpp"
#include "proto/engine_core_output.hpp"
#include "proto/engine_core_request.hpp"
#include "proto/journey_event.hpp"
#include "proto/scheduler_output.hpp"
#include "sample_messages.hpp"

namespace waypoint {
namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

std::string packed(const std::function<void(Packer&)>& write) {
  msgpack::sbuffer buffer;
  Packer pk(buffer);
  write(pk);
  return std::string(buffer.data(), buffer.size());
}

std::string bytes_of(std::initializer_list<uint8_t> bytes) {
  std::string out;
  for (uint8_t b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

// `bytes` (an encoded struct) with top-level field `index` replaced by `value`.
std::string with_field(std::string_view bytes, uint32_t index,
                       const std::function<void(Packer&)>& value) {
  const auto handle = msgpack::unpack(bytes.data(), bytes.size());
  const msgpack::object_array& fields = handle->via.array;
  return packed([&](Packer& pk) {
    pk.pack_array(fields.size);
    for (uint32_t i = 0; i < fields.size; ++i) {
      if (i == index) {
        value(pk);
      } else {
        pk.pack(fields.ptr[i]);
      }
    }
  });
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(proto_Malformed, EmptyInputIsAnError) {
  test::for_each_wire_type([]<class T>() {
    auto r = decode<T>(std::string_view{});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "empty frame");
  });
}

// msgpack is prefix-free, so no proper prefix of a valid frame is itself a
// complete value: every one must be refused. A short prefix may be refused
// for its container headers claiming more entries than it has bytes, before
// the parser notices it is cut off; either reason is fine.
TEST(proto_Malformed, EveryPrefixOfAValidFrameIsAnError) {
  test::for_each_wire_type([]<class T>() {
    const std::string bytes = encode(test::full<T>());
    ASSERT_TRUE(decode<T>(bytes).ok());
    for (std::size_t len = 1; len < bytes.size(); ++len) {
      auto r = decode<T>(std::string_view(bytes.data(), len));
      ASSERT_FALSE(r.ok()) << "prefix of " << len << " bytes decoded";
      EXPECT_FALSE(r.error().message.empty()) << len;
    }
    auto last = decode<T>(std::string_view(bytes.data(), bytes.size() - 1));
    ASSERT_FALSE(last.ok());
    EXPECT_EQ(last.error().message, "truncated frame");
  });
}

TEST(proto_Malformed, TrailingBytesAreAnError) {
  test::for_each_wire_type([]<class T>() {
    const std::string bytes = encode(test::full<T>());
    auto r = decode<T>(bytes + '\xc0');
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "trailing 1 bytes after message");
    // Two messages glued together are not one message either.
    EXPECT_FALSE(decode<T>(bytes + bytes).ok());
  });
}

TEST(proto_Malformed, FrameOverTheLimitIsRefused) {
  test::for_each_wire_type([]<class T>() {
    const std::string bytes = encode(test::full<T>());
    EXPECT_TRUE(decode<T>(bytes, bytes.size()).ok());
    auto r = decode<T>(bytes, bytes.size() - 1);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(contains(r.error().message, "exceeds the limit")) << r.error().message;
    EXPECT_TRUE(contains(r.error().message, std::to_string(bytes.size()))) << r.error().message;
  });
}

TEST(proto_Malformed, NonArrayTopLevelIsAnError) {
  test::for_each_wire_type([]<class T>() {
    EXPECT_FALSE(decode<T>(packed([](Packer& pk) { pk.pack(42); })).ok());
    EXPECT_FALSE(decode<T>(packed([](Packer& pk) { pk.pack_nil(); })).ok());
    EXPECT_FALSE(decode<T>(packed([](Packer& pk) { pk.pack(std::string("[]")); })).ok());
    EXPECT_FALSE(decode<T>(packed([](Packer& pk) { pk.pack_map(0); })).ok());
  });
}

TEST(proto_Malformed, TruncatedFramesOfTheBusiestTypes) {
  // The same property as the typed test, on frames the size real traffic has.
  EngineCoreOutputs outs = test::full_engine_core_outputs();
  for (int i = 0; i < 20; ++i) outs.outputs.push_back(test::full_engine_core_output());
  SchedulerOutput sched = test::full_scheduler_output();
  for (int i = 0; i < 10; ++i) sched.scheduled_new_reqs.push_back(test::full_new_request_data());
  const std::string frames[] = {encode(outs), encode(sched),
                                encode(test::full_engine_core_request())};
  for (const std::string& bytes : frames) {
    for (std::size_t len = 0; len < bytes.size(); ++len) {
      const std::string_view prefix(bytes.data(), len);
      EXPECT_FALSE(decode<EngineCoreOutputs>(prefix).ok());
      EXPECT_FALSE(decode<SchedulerOutput>(prefix).ok());
      EXPECT_FALSE(decode<EngineCoreRequest>(prefix).ok());
    }
  }
}

// Headers that claim up to 4 billion entries or bytes must be refused before
// anything is allocated for them.
TEST(proto_Malformed, HugeLengthHeadersAreRefused) {
  const std::string headers[] = {
      bytes_of({0xdd, 0xff, 0xff, 0xff, 0xff}),        // array32
      bytes_of({0xdf, 0xff, 0xff, 0xff, 0xff}),        // map32
      bytes_of({0xdb, 0xff, 0xff, 0xff, 0xff}),        // str32
      bytes_of({0xc6, 0xff, 0xff, 0xff, 0xff}),        // bin32
      bytes_of({0xc9, 0xff, 0xff, 0xff, 0xff, 0x01}),  // ext32
      bytes_of({0xdc, 0xff, 0xff}),                    // array16
  };
  for (const std::string& h : headers) {
    auto r = decode<EngineCoreOutputs>(h);
    ASSERT_FALSE(r.ok());
    EXPECT_FALSE(r.error().message.empty());
    EXPECT_FALSE(unpack_frame(h).ok());
  }
  auto r = decode<EngineCoreOutputs>(headers[0]);
  EXPECT_TRUE(contains(r.error().message, "claims more bytes than the frame holds"))
      << r.error().message;

  // The same lie one level down: outputs claims 4 billion entries.
  const std::string nested = bytes_of({0x96, 0x00, 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0, 0x00});
  EXPECT_FALSE(decode<EngineCoreOutputs>(nested).ok());
}

TEST(proto_Malformed, DeepNestingIsRefused) {
  std::string deep(100'000, static_cast<char>(0x91));  // [[[[...
  deep.push_back(static_cast<char>(0xc0));
  auto r = decode<EngineCoreOutputs>(deep);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "nests deeper than")) << r.error().message;
  EXPECT_FALSE(decode<SchedulerOutput>(deep).ok());

  std::string maps;
  for (int i = 0; i < 100'000; ++i) maps += bytes_of({0x81, 0x00});  // {0: {0: ...
  maps.push_back(static_cast<char>(0xc0));
  EXPECT_FALSE(decode<EngineCoreOutputs>(maps).ok());

  // Nesting that real messages use is well inside the limit.
  std::string shallow(8, static_cast<char>(0x91));
  shallow.push_back(static_cast<char>(0xc0));
  EXPECT_TRUE(unpack_frame(shallow).ok());
}

TEST(proto_Malformed, ReservedByteIsAnError) {
  auto r = decode<EngineCoreOutputs>(bytes_of({0xc1}));
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(r.error().message.empty());
}

TEST(proto_Malformed, WrongFieldTypesAreErrors) {
  const std::string outs = encode(test::full_engine_core_outputs());
  // engine_index: a string, nil, a bool, a float.
  auto r = decode<EngineCoreOutputs>(with_field(outs, 0, [](Packer& pk) { pk.pack("zero"); }));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(contains(r.error().message, "EngineCoreOutputs")) << r.error().message;
  EXPECT_FALSE(
      decode<EngineCoreOutputs>(with_field(outs, 0, [](Packer& pk) { pk.pack_nil(); })).ok());
  EXPECT_FALSE(
      decode<EngineCoreOutputs>(with_field(outs, 0, [](Packer& pk) { pk.pack(true); })).ok());
  EXPECT_FALSE(
      decode<EngineCoreOutputs>(with_field(outs, 0, [](Packer& pk) { pk.pack(0.5); })).ok());
  // outputs: a map rather than a list; a list of strings rather than structs.
  EXPECT_FALSE(
      decode<EngineCoreOutputs>(with_field(outs, 1, [](Packer& pk) { pk.pack_map(0); })).ok());
  EXPECT_FALSE(decode<EngineCoreOutputs>(with_field(outs, 1, [](Packer& pk) {
                 pk.pack(std::vector<std::string>{"x"});
               })).ok());
  // journey_events: a single event instead of a list of them.
  EXPECT_FALSE(decode<EngineCoreOutputs>(with_field(outs, 5, [](Packer& pk) {
                 pk.pack(test::full_journey_event());
               })).ok());

  const std::string req = encode(test::full_engine_core_request());
  // trace_headers with a non-string value; request_id as an integer.
  EXPECT_FALSE(decode<EngineCoreRequest>(with_field(req, 6, [](Packer& pk) {
                 pk.pack_map(1);
                 pk.pack("traceparent");
                 pk.pack(1);
               })).ok());
  EXPECT_FALSE(decode<EngineCoreRequest>(with_field(req, 0, [](Packer& pk) { pk.pack(17); })).ok());
}

TEST(proto_Malformed, IntegersOutOfRangeAreErrors) {
  const std::string req = encode(test::full_engine_core_request());
  // priority is int32: 2^31 does not fit, and must not wrap to INT32_MIN.
  EXPECT_FALSE(decode<EngineCoreRequest>(with_field(req, 5, [](Packer& pk) {
                 pk.pack(uint64_t{1} << 31);
               })).ok());
  const std::string step = encode(test::full_scheduler_output());
  // scheduler_step is unsigned: -1 is not UINT64_MAX.
  EXPECT_FALSE(decode<SchedulerOutput>(with_field(step, 5, [](Packer& pk) { pk.pack(-1); })).ok());
}

TEST(proto_Malformed, UnknownEnumValuesAreErrors) {
  const std::string out = encode(test::full_engine_core_output());
  // finish_reason: 7 and 4 are unknown; -1, 256 and 1.0 are not small non-negative integers.
  for (auto bad : std::initializer_list<std::function<void(Packer&)>>{
           [](Packer& pk) { pk.pack(7); }, [](Packer& pk) { pk.pack(4); },
           [](Packer& pk) { pk.pack(-1); }, [](Packer& pk) { pk.pack(256); },
           [](Packer& pk) { pk.pack(1.5); }, [](Packer& pk) { pk.pack("STOP"); }}) {
    auto r = decode<EngineCoreOutput>(with_field(out, 2, bad));
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(contains(r.error().message, "malformed")) << r.error().message;
  }

  const std::string ev = encode(test::full_journey_event());
  // event_type 0 and 6 fall either side of QUEUED..FINISHED.
  EXPECT_FALSE(decode<RequestJourneyEvent>(with_field(ev, 1, [](Packer& pk) { pk.pack(0); })).ok());
  EXPECT_FALSE(decode<RequestJourneyEvent>(with_field(ev, 1, [](Packer& pk) { pk.pack(6); })).ok());
  EXPECT_FALSE(decode<RequestJourneyEvent>(with_field(ev, 9, [](Packer& pk) { pk.pack(3); })).ok());
  EXPECT_FALSE(
      decode<RequestJourneyEvent>(with_field(ev, 11, [](Packer& pk) { pk.pack(0); })).ok());
  EXPECT_FALSE(
      decode<RequestJourneyEvent>(with_field(ev, 12, [](Packer& pk) { pk.pack(5); })).ok());
  // nil is the absent optional, which is fine; for the required event_type it is not.
  EXPECT_TRUE(
      decode<RequestJourneyEvent>(with_field(ev, 11, [](Packer& pk) { pk.pack_nil(); })).ok());
  EXPECT_FALSE(
      decode<RequestJourneyEvent>(with_field(ev, 1, [](Packer& pk) { pk.pack_nil(); })).ok());

  // A bad enum deep inside a batch spoils the batch: the frame is dropped whole.
  const std::string batch = packed([](Packer& pk) {
    pk.pack_array(6);
    pk.pack(0);
    pk.pack_array(1);
    pk.pack_array(5);
    pk.pack("cmpl-3f2a9c1e0b7d4e5f-0");
    pk.pack(std::vector<TokenId>{1});
    pk.pack(7);  // finish_reason
    pk.pack_nil();
    pk.pack(0);
    pk.pack_nil();
    pk.pack(0.0);
    pk.pack_array(0);
    pk.pack_nil();
  });
  EXPECT_FALSE(decode<EngineCoreOutputs>(batch).ok());
}

}  // namespace
}  // namespace waypoint
