// The OTLP/JSON body: the structure and spelling the OTLP specification's
// JSON mapping fixes, which collectors (and the TestCollector of the end-to-end
// test) read.
#include "telemetry/otlp_json.hpp"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace waypoint {
namespace {

using nlohmann::json;

Span request_span() {
  Span s;
  s.scope = "vllm.api";
  s.name = "llm_request";
  s.kind = SpanKind::kServer;
  s.trace_id = TraceId{0x4bf92f3577b34da6ull, 0xa3ce929d0e0e4736ull};
  s.span_id = SpanId{0x00f067aa0ba902b7ull};
  s.parent_span_id = SpanId{0x1122334455667788ull};
  s.trace_state = "rojo=00f067aa0ba902b7";
  s.start_unix_ns = 1'795'475'209'953'389'202;
  s.end_unix_ns = 1'795'475'209'966'331'000;
  s.attributes = {{"gen_ai.request.id", std::string("cmpl-1")},
                  {"gen_ai.request.max_tokens", int64_t{9'007'199'254'740'993}},  // 2^53 + 1
                  {"gen_ai.request.temperature", 0.5},
                  {"request.stream", true},
                  {"kv.block_hashes", std::vector<int64_t>{-1, 2}},
                  {"nothing", std::monostate{}}};
  s.events = {
      SpanEvent{"api.ARRIVED", 1'795'475'209'953'389'202, {{"request.id", std::string("cmpl-1")}}}};
  s.status = SpanStatusCode::kError;
  s.status_message = "client disconnected";
  return s;
}

Span core_span() {
  Span s;
  s.scope = "vllm.scheduler";
  s.name = "llm_core";
  s.kind = SpanKind::kInternal;
  s.trace_id = TraceId{1, 2};
  s.span_id = SpanId{3};
  s.start_unix_ns = 10;
  s.end_unix_ns = 20;
  return s;
}

TEST(proto_OtlpJson, ResourceThenOneScopeSpansPerScopeInFirstSeenOrder) {
  Span second_request = request_span();
  second_request.name = "llm_request_2";
  const json body =
      json::parse(encode_otlp_traces({request_span(), core_span(), second_request},
                                     {{"service.name", std::string("waypoint")},
                                      {"service.instance.id", std::string("frontend-0")}}));
  ASSERT_EQ(body["resourceSpans"].size(), 1u);
  const json& rs = body["resourceSpans"][0];
  EXPECT_EQ(rs["resource"]["attributes"],
            json::parse(R"([{"key":"service.name","value":{"stringValue":"waypoint"}},
                            {"key":"service.instance.id","value":{"stringValue":"frontend-0"}}])"));
  ASSERT_EQ(rs["scopeSpans"].size(), 2u);
  EXPECT_EQ(rs["scopeSpans"][0]["scope"]["name"], "vllm.api");
  EXPECT_EQ(rs["scopeSpans"][1]["scope"]["name"], "vllm.scheduler");
  ASSERT_EQ(rs["scopeSpans"][0]["spans"].size(), 2u);
  EXPECT_EQ(rs["scopeSpans"][0]["spans"][0]["name"], "llm_request");
  EXPECT_EQ(rs["scopeSpans"][0]["spans"][1]["name"], "llm_request_2");
  EXPECT_EQ(rs["scopeSpans"][1]["spans"][0]["name"], "llm_core");
}

TEST(proto_OtlpJson, SpanFieldsFollowTheJsonMapping) {
  const json body = json::parse(encode_otlp_traces({request_span()}, {}));
  const json& span = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(span["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(span["spanId"], "00f067aa0ba902b7");
  EXPECT_EQ(span["parentSpanId"], "1122334455667788");
  EXPECT_EQ(span["traceState"], "rojo=00f067aa0ba902b7");
  EXPECT_EQ(span["kind"], 2);  // SPAN_KIND_SERVER, as a number
  // fixed64 times are decimal strings.
  EXPECT_EQ(span["startTimeUnixNano"], "1795475209953389202");
  EXPECT_EQ(span["endTimeUnixNano"], "1795475209966331000");
  EXPECT_EQ(span["status"], json::parse(R"({"code":2,"message":"client disconnected"})"));
  EXPECT_EQ(span["attributes"], json::parse(R"([
      {"key":"gen_ai.request.id","value":{"stringValue":"cmpl-1"}},
      {"key":"gen_ai.request.max_tokens","value":{"intValue":"9007199254740993"}},
      {"key":"gen_ai.request.temperature","value":{"doubleValue":0.5}},
      {"key":"request.stream","value":{"boolValue":true}},
      {"key":"kv.block_hashes","value":{"arrayValue":{"values":[{"intValue":"-1"},{"intValue":"2"}]}}},
      {"key":"nothing","value":{}}])"));
  EXPECT_EQ(span["events"], json::parse(R"([{"timeUnixNano":"1795475209953389202",
      "name":"api.ARRIVED","attributes":[{"key":"request.id","value":{"stringValue":"cmpl-1"}}]}])"));
}

TEST(proto_OtlpJson, ARootSpanHasNoParentAndAnUnsetStatus) {
  const std::string text = encode_otlp_traces({core_span()}, {});
  // The whole body, to pin every spelling of a minimal span.
  EXPECT_EQ(
      text,
      R"({"resourceSpans":[{"resource":{"attributes":[]},"scopeSpans":[{"scope":{"name":"vllm.scheduler"},)"
      R"("spans":[{"attributes":[],"endTimeUnixNano":"20","events":[],"kind":1,"name":"llm_core",)"
      R"("spanId":"0000000000000003","startTimeUnixNano":"10","status":{"code":0},)"
      R"("traceId":"00000000000000010000000000000002"}]}]}]})");
}

TEST(proto_OtlpJson, NonFiniteDoublesAndStrayBytesStillEncode) {
  Span s = core_span();
  s.attributes = {{"nan", std::numeric_limits<double>::quiet_NaN()},
                  {"inf", std::numeric_limits<double>::infinity()},
                  {"-inf", -std::numeric_limits<double>::infinity()},
                  {"bytes", std::string("bad \xff byte")}};
  const json body = json::parse(encode_otlp_traces({s}, {}));
  const json& attrs = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"];
  EXPECT_EQ(attrs[0]["value"]["doubleValue"], "NaN");
  EXPECT_EQ(attrs[1]["value"]["doubleValue"], "Infinity");
  EXPECT_EQ(attrs[2]["value"]["doubleValue"], "-Infinity");
  EXPECT_EQ(attrs[3]["value"]["stringValue"], "bad \xef\xbf\xbd byte");  // U+FFFD
}

TEST(proto_OtlpJson, NoSpansIsAnEmptyResourceSpans) {
  const json body = json::parse(encode_otlp_traces({}, {}));
  EXPECT_TRUE(body["resourceSpans"][0]["scopeSpans"].empty());
}

}  // namespace
}  // namespace waypoint
