// Every wire type must come back from encode/decode exactly as it went in.
#include <cstdint>
#include <limits>
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <msgpack.hpp>

#include "proto/codec.hpp"
#include "proto/engine_core_output.hpp"
#include "proto/engine_core_request.hpp"
#include "proto/journey_event.hpp"
#include "proto/model_runner_output.hpp"
#include "proto/scheduler_output.hpp"
#include "sample_messages.hpp"

namespace waypoint {
namespace {

template <class T>
T round_trip(const T& value) {
  auto decoded = decode<T>(encode(value));
  EXPECT_TRUE(decoded.ok()) << decoded.error().message;
  return decoded.ok() ? *decoded : T{};
}

TEST(proto_RoundTrip, FullValueOfEveryTypeSurvives) {
  test::for_each_wire_type([]<class T>() {
    const T value = test::full<T>();
    EXPECT_EQ(round_trip(value), value);
  });
}

TEST(proto_RoundTrip, DefaultValueOfEveryTypeSurvives) {
  test::for_each_wire_type([]<class T>() { EXPECT_EQ(round_trip(T{}), T{}); });
}

// Guards the samples themselves: a field left at its default would let a codec
// that drops it pass the round-trip test above.
TEST(proto_RoundTrip, SamplesSetEveryField) {
  test::for_each_wire_type([]<class T>() {
    const std::string full = encode(test::full<T>());
    const std::string dflt = encode(T{});
    const auto full_obj = msgpack::unpack(full.data(), full.size());
    const auto dflt_obj = msgpack::unpack(dflt.data(), dflt.size());
    ASSERT_EQ(full_obj->type, msgpack::type::ARRAY);
    ASSERT_EQ(dflt_obj->type, msgpack::type::ARRAY);
    ASSERT_EQ(full_obj->via.array.size, dflt_obj->via.array.size);
    for (uint32_t i = 0; i < full_obj->via.array.size; ++i) {
      EXPECT_NE(full_obj->via.array.ptr[i], dflt_obj->via.array.ptr[i]) << "field " << i;
    }
  });
}

// Encoding is a pure function of the value: the core relies on it being
// cheap to re-send and tests compare frames byte for byte.
TEST(proto_RoundTrip, EncodingIsDeterministic) {
  test::for_each_wire_type([]<class T>() {
    const T value = test::full<T>();
    const std::string once = encode(value);
    EXPECT_EQ(encode(round_trip(value)), once);
    msgpack::sbuffer buffer;
    encode_into(buffer, value);
    EXPECT_EQ(std::string(buffer.data(), buffer.size()), once);
  });
}

TEST(proto_RoundTrip, EngineCoreRequestOptionalsAbsent) {
  EngineCoreRequest r = test::full_engine_core_request();
  r.trace_headers.reset();
  r.sampling_params.seed.reset();
  r.sampling_params.max_tokens.reset();
  const EngineCoreRequest back = round_trip(r);
  EXPECT_EQ(back, r);
  EXPECT_FALSE(back.trace_headers.has_value());
  EXPECT_FALSE(back.sampling_params.seed.has_value());
  EXPECT_FALSE(back.sampling_params.max_tokens.has_value());
}

// An empty header map is a different statement from "no headers": the first
// says the client sent a trace context that happened to be empty.
TEST(proto_RoundTrip, EmptyTraceHeadersStayPresent) {
  EngineCoreRequest r = test::full_engine_core_request();
  r.trace_headers = std::map<std::string, std::string>{};
  const EngineCoreRequest back = round_trip(r);
  ASSERT_TRUE(back.trace_headers.has_value());
  EXPECT_TRUE(back.trace_headers->empty());
}

TEST(proto_RoundTrip, ExtremeIntegers) {
  EngineCoreRequest r = test::full_engine_core_request();
  r.priority = std::numeric_limits<int32_t>::min();
  r.client_index = std::numeric_limits<int32_t>::max();
  r.sampling_params.seed = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(round_trip(r), r);

  SchedulerStats s = test::full_scheduler_stats();
  s.scheduler_step = std::numeric_limits<uint64_t>::max();
  s.prefix_cache_queries = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(round_trip(s).scheduler_step, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(round_trip(s), s);

  SchedulerOutput so;
  so.scheduler_step = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(round_trip(so).scheduler_step, std::numeric_limits<uint64_t>::max());
}

// msgpack-cxx packs a double with an integral value as an integer; the typed
// decoder must still read it back into the double field unchanged.
TEST(proto_RoundTrip, IntegralDoublesSurvive) {
  EngineCoreOutputs o;
  o.timestamp = 8123.0;
  o.scheduler_stats = SchedulerStats{};
  o.scheduler_stats->kv_cache_usage = 1.0;
  EXPECT_EQ(round_trip(o), o);

  EngineCoreRequest r;
  r.arrival_time = -1.0;
  r.sampling_params.temperature = 0.0f;
  EXPECT_EQ(round_trip(r), r);
}

TEST(proto_RoundTrip, EngineCoreOutputOptionalsAbsent) {
  EngineCoreOutput o = test::full_engine_core_output();
  o.finish_reason.reset();
  o.stop_reason.reset();
  const EngineCoreOutput back = round_trip(o);
  EXPECT_EQ(back, o);
  EXPECT_FALSE(back.finished());
}

TEST(proto_RoundTrip, EveryFinishReason) {
  for (FinishReason r :
       {FinishReason::STOP, FinishReason::LENGTH, FinishReason::ABORT, FinishReason::ERROR}) {
    EngineCoreOutput o = test::full_engine_core_output();
    o.finish_reason = r;
    EXPECT_EQ(round_trip(o), o) << to_string(r);
  }
}

TEST(proto_RoundTrip, EveryJourneyEnumValue) {
  for (JourneyEventType t :
       {JourneyEventType::QUEUED, JourneyEventType::SCHEDULED, JourneyEventType::FIRST_TOKEN,
        JourneyEventType::PREEMPTED, JourneyEventType::FINISHED}) {
    RequestJourneyEvent e = test::full_journey_event();
    e.event_type = t;
    EXPECT_EQ(round_trip(e), e) << to_string(t);
  }
  for (RequestPhase p : {RequestPhase::WAITING, RequestPhase::PREFILL, RequestPhase::DECODE}) {
    RequestJourneyEvent e = test::full_journey_event();
    e.phase = p;
    EXPECT_EQ(round_trip(e), e) << to_string(p);
  }
  for (FinishStatus s : {FinishStatus::STOPPED, FinishStatus::LENGTH, FinishStatus::ABORTED,
                         FinishStatus::IGNORED, FinishStatus::ERROR}) {
    RequestJourneyEvent e = test::full_journey_event();
    e.finish_status = s;
    EXPECT_EQ(round_trip(e), e) << to_string(s);
  }
  for (ScheduleKind k : {ScheduleKind::FIRST, ScheduleKind::RESUME}) {
    RequestJourneyEvent e = test::full_journey_event();
    e.schedule_kind = k;
    EXPECT_EQ(round_trip(e), e) << to_string(k);
  }
}

TEST(proto_RoundTrip, JourneyEventOptionalsAbsent) {
  RequestJourneyEvent e = test::full_journey_event();
  e.schedule_kind.reset();
  e.finish_status.reset();
  const RequestJourneyEvent back = round_trip(e);
  EXPECT_EQ(back, e);
  EXPECT_FALSE(back.schedule_kind.has_value());
  EXPECT_FALSE(back.finish_status.has_value());
}

TEST(proto_RoundTrip, EngineCoreOutputsWithoutStats) {
  EngineCoreOutputs o = test::full_engine_core_outputs();
  o.scheduler_stats.reset();
  const EngineCoreOutputs back = round_trip(o);
  EXPECT_EQ(back, o);
  EXPECT_FALSE(back.scheduler_stats.has_value());
}

// Enums travel as their numeric value, so a reader in another language sees
// the documented numbers (docs/architecture.md, "Wire contract": STOP=0 ... ERROR=3).
TEST(proto_RoundTrip, EnumsAreEncodedAsTheirNumbers) {
  EngineCoreOutput o;
  o.finish_reason = FinishReason::ERROR;
  const std::string bytes = encode(o);
  const auto obj = msgpack::unpack(bytes.data(), bytes.size());
  ASSERT_EQ(obj->type, msgpack::type::ARRAY);
  ASSERT_GE(obj->via.array.size, 3u);
  EXPECT_EQ(obj->via.array.ptr[2].as<uint64_t>(), 3u);
}

}  // namespace
}  // namespace waypoint
