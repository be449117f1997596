// W3C Trace Context: what a traceparent must look like to be continued, and
// what the ids we mint look like.
#include "telemetry/trace_context.hpp"

#include <set>
#include <string>

#include <gtest/gtest.h>

namespace waypoint {
namespace {

// The example of the W3C recommendation.
constexpr std::string_view kExample = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(proto_TraceContext, ParsesTheRecommendationsExample) {
  auto tp = parse_traceparent(kExample);
  ASSERT_TRUE(tp);
  EXPECT_EQ(tp->trace_id.hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(tp->parent_id.hex(), "00f067aa0ba902b7");
  EXPECT_EQ(tp->flags, kTraceFlagSampled);
  EXPECT_EQ(format_traceparent(tp->trace_id, tp->parent_id, tp->flags), kExample);
}

TEST(proto_TraceContext, UnsampledFlagsAndSurroundingBlanksAreFine) {
  auto tp = parse_traceparent("  00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00\t");
  ASSERT_TRUE(tp);
  EXPECT_EQ(tp->flags, 0);
}

TEST(proto_TraceContext, RefusesWhatTheRulesRefuse) {
  const char* bad[] = {
      "",
      "00",
      // upper-case hex
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
      // all-zero trace id, all-zero parent id
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
      // version ff is forbidden; version 00 has exactly four fields
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
      // wrong separators, short fields, non-hex
      "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
      "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
      "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01",
  };
  for (const char* value : bad) EXPECT_FALSE(parse_traceparent(value)) << "'" << value << "'";
}

TEST(proto_TraceContext, ALaterVersionIsReadByItsFirstFourFields) {
  auto tp = parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever");
  ASSERT_TRUE(tp);
  EXPECT_EQ(tp->parent_id.hex(), "00f067aa0ba902b7");
  EXPECT_TRUE(parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  // More fields must follow a dash.
  EXPECT_FALSE(parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"));
}

TEST(proto_TraceContext, ExtractsFromHeadersWhateverTheirCase) {
  const std::vector<std::pair<std::string, std::string>> headers{
      {"Content-Type", "application/json"},
      {"TraceParent", std::string(kExample)},
      {"tracestate", "rojo=00f067aa0ba902b7"},
      {"TRACESTATE", " congo=t61rcWkgMzE "}};
  auto tp = extract_trace_context(headers);
  ASSERT_TRUE(tp);
  EXPECT_EQ(tp->trace_id.hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  // Repeated tracestate headers are one list.
  EXPECT_EQ(tp->trace_state, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
}

TEST(proto_TraceContext, TwoTraceparentsOrABadOneMeanANewTrace) {
  EXPECT_FALSE(extract_trace_context(
      {{"traceparent", std::string(kExample)}, {"traceparent", std::string(kExample)}}));
  EXPECT_FALSE(extract_trace_context({{"traceparent", "00-bad"}, {"tracestate", "a=b"}}));
  EXPECT_FALSE(extract_trace_context({{"tracestate", "a=b"}}));
  EXPECT_FALSE(extract_trace_context({}));
}

TEST(proto_TraceContext, AnOversizedTracestateIsDroppedNotTheTrace) {
  auto tp = extract_trace_context(
      {{"traceparent", std::string(kExample)}, {"tracestate", "k=" + std::string(600, 'v')}});
  ASSERT_TRUE(tp);
  EXPECT_TRUE(tp->trace_state.empty());
}

TEST(proto_TraceContext, GeneratedIdsAreValidAndDistinct) {
  TraceIdGenerator ids;
  std::set<std::string> seen;
  for (int i = 0; i < 20000; ++i) {
    const TraceId t = ids.trace_id();
    const SpanId s = ids.span_id();
    ASSERT_TRUE(t.valid());
    ASSERT_TRUE(s.valid());
    ASSERT_TRUE(seen.insert(t.hex()).second);
    ASSERT_TRUE(seen.insert(s.hex()).second);
    ASSERT_TRUE(parse_traceparent(format_traceparent(t, s, kTraceFlagSampled)));
  }
}

TEST(proto_TraceContext, TwoGeneratorsDoNotShareASequence) {
  TraceIdGenerator a;
  TraceIdGenerator b;
  EXPECT_NE(a.trace_id(), b.trace_id());
  TraceIdGenerator c(42);
  TraceIdGenerator d(42);
  EXPECT_EQ(c.span_id(), d.span_id());  // a seed makes it reproducible
}

}  // namespace
}  // namespace waypoint
