// docs/architecture.md, "Wire contract": fields are added only at the end, a reader ignores
// trailing fields it does not know and gives missing trailing fields their defaults. This is what
// lets a frontend and a core of different versions talk.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <msgpack.hpp>

#include "proto/codec.hpp"
#include "proto/engine_core_output.hpp"
#include "sample_messages.hpp"

namespace waypoint {
namespace {

// EngineCoreOutputs as it was before journey_events was added.
struct OldEngineCoreOutputs {
  static constexpr const char* kWireName = "EngineCoreOutputs (before journey_events)";
  int32_t engine_index = 0;
  std::vector<EngineCoreOutput> outputs;
  std::optional<SchedulerStats> scheduler_stats;
  double timestamp = 0.0;
  std::vector<std::string> finished_requests;

  bool operator==(const OldEngineCoreOutputs&) const = default;
  MSGPACK_DEFINE_ARRAY(engine_index, outputs, scheduler_stats, timestamp, finished_requests)
};

OldEngineCoreOutputs as_old(const EngineCoreOutputs& o) {
  return {o.engine_index, o.outputs, o.scheduler_stats, o.timestamp, o.finished_requests};
}

// Re-packs the top-level array of `bytes`: its first `keep` elements, then
// `tail_count` values already packed in `tail`.
std::string repack(std::string_view bytes, uint32_t keep, std::string_view tail = {},
                   uint32_t tail_count = 0) {
  const auto handle = msgpack::unpack(bytes.data(), bytes.size());
  const msgpack::object& root = handle.get();
  EXPECT_EQ(root.type, msgpack::type::ARRAY);
  EXPECT_LE(keep, root.via.array.size);
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pk.pack_array(keep + tail_count);
  for (uint32_t i = 0; i < keep; ++i) pk.pack(root.via.array.ptr[i]);
  buffer.write(tail.data(), tail.size());
  return std::string(buffer.data(), buffer.size());
}

uint32_t field_count(std::string_view bytes) {
  const auto handle = msgpack::unpack(bytes.data(), bytes.size());
  return handle->via.array.size;
}

// Values of several shapes that a future writer might append.
std::string unknown_fields(uint32_t& count) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pk.pack(std::string("a field from the future"));
  pk.pack(std::vector<int>{1, 2, 3});
  pk.pack_map(1);
  pk.pack(std::string("k"));
  pk.pack_nil();
  pk.pack(-7);
  pk.pack(2.5);
  pk.pack_nil();
  count = 6;
  return std::string(buffer.data(), buffer.size());
}

TEST(proto_Compatibility, JourneyEventsAbsentDecodesAbsent) {
  EngineCoreOutputs o = test::full_engine_core_outputs();
  o.journey_events.reset();
  auto back = decode<EngineCoreOutputs>(encode(o));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_FALSE(back->journey_events.has_value());
  EXPECT_EQ(*back, o);
}

// Tracing on with nothing to report this step is not the same as tracing off.
TEST(proto_Compatibility, EmptyJourneyEventsStayPresent) {
  EngineCoreOutputs o = test::full_engine_core_outputs();
  o.journey_events.emplace();
  auto back = decode<EngineCoreOutputs>(encode(o));
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_TRUE(back->journey_events.has_value());
  EXPECT_TRUE(back->journey_events->empty());
}

TEST(proto_Compatibility, OldReaderIgnoresJourneyEvents) {
  const EngineCoreOutputs o = test::full_engine_core_outputs();
  ASSERT_TRUE(o.journey_events.has_value());
  ASSERT_FALSE(o.journey_events->empty());

  auto old = decode<OldEngineCoreOutputs>(encode(o));
  ASSERT_TRUE(old.ok()) << old.error().message;
  EXPECT_EQ(old->engine_index, o.engine_index);
  EXPECT_EQ(old->outputs, o.outputs);
  EXPECT_EQ(old->scheduler_stats, o.scheduler_stats);
  EXPECT_EQ(old->timestamp, o.timestamp);
  EXPECT_EQ(old->finished_requests, o.finished_requests);
}

TEST(proto_Compatibility, NewReaderAcceptsOldWriter) {
  const OldEngineCoreOutputs old = as_old(test::full_engine_core_outputs());
  const std::string bytes = encode(old);
  EXPECT_EQ(field_count(bytes), 5u);

  auto back = decode<EngineCoreOutputs>(bytes);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_FALSE(back->journey_events.has_value());
  EXPECT_EQ(as_old(*back), old);
}

// The old writer and a new writer with tracing off must differ only in the
// trailing nil, so the two versions agree on every other byte.
TEST(proto_Compatibility, NewWriterWithoutJourneyMatchesOldWriterPlusNil) {
  EngineCoreOutputs o = test::full_engine_core_outputs();
  o.journey_events.reset();
  const std::string old_bytes = encode(as_old(o));
  const std::string nil(1, static_cast<char>(0xc0));
  EXPECT_EQ(encode(o), repack(old_bytes, 5, nil, 1));
}

TEST(proto_TrailingFields, UnknownExtraFieldsAreIgnored) {
  uint32_t extra = 0;
  const std::string tail = unknown_fields(extra);
  test::for_each_wire_type([&]<class T>() {
    const T value = test::full<T>();
    const std::string bytes = encode(value);
    const std::string newer = repack(bytes, field_count(bytes), tail, extra);
    auto back = decode<T>(newer);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*back, value);
  });
}

// A writer that predates field k sends only the first k. The reader must take
// those and leave the rest at the struct's own defaults (not zero: an absent
// temperature is 1.0, an absent n is 1).
TEST(proto_TrailingFields, MissingTrailingFieldsTakeDefaults) {
  test::for_each_wire_type([]<class T>() {
    const std::string full_bytes = encode(test::full<T>());
    const std::string dflt_bytes = encode(T{});
    const uint32_t n = field_count(full_bytes);
    const auto dflt = msgpack::unpack(dflt_bytes.data(), dflt_bytes.size());

    for (uint32_t keep = 0; keep <= n; ++keep) {
      auto older = decode<T>(repack(full_bytes, keep));
      ASSERT_TRUE(older.ok()) << "keep " << keep << ": " << older.error().message;

      // The same first `keep` fields, with the rest spelled out as defaults.
      msgpack::sbuffer tail;
      msgpack::packer<msgpack::sbuffer> pk(tail);
      for (uint32_t i = keep; i < n; ++i) pk.pack(dflt->via.array.ptr[i]);
      auto expected =
          decode<T>(repack(full_bytes, keep, std::string_view(tail.data(), tail.size()), n - keep));
      ASSERT_TRUE(expected.ok()) << expected.error().message;
      EXPECT_EQ(*older, *expected) << "keep " << keep;
    }
    auto empty = decode<T>(repack(full_bytes, 0));
    ASSERT_TRUE(empty.ok());
    EXPECT_EQ(*empty, T{});
  });
}

TEST(proto_TrailingFields, OldRequestGetsSamplingDefaults) {
  const std::string bytes = encode(test::full_engine_core_request());
  // A writer that knew only request_id and prompt_token_ids.
  auto r = decode<EngineCoreRequest>(repack(bytes, 2));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->request_id, "cmpl-3f2a9c1e0b7d4e5f-0");
  EXPECT_FALSE(r->prompt_token_ids.empty());
  EXPECT_EQ(r->sampling_params.temperature, 1.0f);
  EXPECT_EQ(r->sampling_params.top_p, 1.0f);
  EXPECT_EQ(r->sampling_params.n, 1);
  EXPECT_FALSE(r->sampling_params.max_tokens.has_value());
  EXPECT_EQ(r->priority, 0);
  EXPECT_FALSE(r->trace_headers.has_value());
}

// Extra fields inside a nested struct are skipped too, not only at the top.
TEST(proto_TrailingFields, NestedExtraFieldsAreIgnored) {
  const EngineCoreOutputs o = test::full_engine_core_outputs();
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pk.pack_array(7);  // six known fields and one from the future
  pk.pack(o.engine_index);
  pk.pack_array(static_cast<uint32_t>(o.outputs.size()));
  for (const auto& out : o.outputs) {
    pk.pack_array(7);
    pk.pack(out.request_id);
    pk.pack(out.new_token_ids);
    pk.pack(out.finish_reason);
    pk.pack(out.stop_reason);
    pk.pack(out.num_cached_tokens);
    pk.pack(out.events);
    pk.pack(std::string("logprobs, one day"));
  }
  pk.pack(o.scheduler_stats);
  pk.pack(o.timestamp);
  pk.pack(o.finished_requests);
  pk.pack(o.journey_events);
  pk.pack(true);

  auto back = decode<EngineCoreOutputs>(std::string_view(buffer.data(), buffer.size()));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, o);
}

}  // namespace
}  // namespace waypoint
