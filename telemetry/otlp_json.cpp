#include "telemetry/otlp_json.hpp"

#include <cmath>
#include <string_view>

#include <nlohmann/json.hpp>

namespace waypoint {

namespace {

using nlohmann::json;

json any_value(const AttrValue& value) {
  struct Visitor {
    json operator()(std::monostate) const { return json::object(); }  // an empty AnyValue
    json operator()(bool v) const { return {{"boolValue", v}}; }
    // int64 is a string in the JSON mapping: a JavaScript reader would lose
    // precision past 2^53 otherwise.
    json operator()(int64_t v) const { return {{"intValue", std::to_string(v)}}; }
    json operator()(double v) const {
      if (std::isnan(v)) return {{"doubleValue", "NaN"}};
      if (std::isinf(v)) return {{"doubleValue", v > 0 ? "Infinity" : "-Infinity"}};
      return {{"doubleValue", v}};
    }
    json operator()(const std::string& v) const { return {{"stringValue", v}}; }
    json operator()(const std::vector<int64_t>& v) const {
      json values = json::array();
      for (int64_t x : v) values.push_back({{"intValue", std::to_string(x)}});
      return {{"arrayValue", {{"values", std::move(values)}}}};
    }
  };
  return std::visit(Visitor{}, value);
}

json attributes(const SpanAttributes& attrs) {
  json out = json::array();
  for (const auto& [key, value] : attrs) out.push_back({{"key", key}, {"value", any_value(value)}});
  return out;
}

json span_json(const Span& s) {
  json j{{"traceId", s.trace_id.hex()},
         {"spanId", s.span_id.hex()},
         {"name", s.name},
         {"kind", static_cast<int>(s.kind)},
         {"startTimeUnixNano", std::to_string(s.start_unix_ns)},
         {"endTimeUnixNano", std::to_string(s.end_unix_ns)},
         {"attributes", attributes(s.attributes)}};
  if (s.parent_span_id.valid()) j["parentSpanId"] = s.parent_span_id.hex();
  if (!s.trace_state.empty()) j["traceState"] = s.trace_state;
  json events = json::array();
  for (const SpanEvent& e : s.events) {
    events.push_back({{"timeUnixNano", std::to_string(e.time_unix_ns)},
                      {"name", e.name},
                      {"attributes", attributes(e.attributes)}});
  }
  j["events"] = std::move(events);
  json status{{"code", static_cast<int>(s.status)}};
  if (!s.status_message.empty()) status["message"] = s.status_message;
  j["status"] = std::move(status);
  return j;
}

}  // namespace

std::string encode_otlp_traces(const std::vector<Span>& spans, const SpanAttributes& resource) {
  json scope_spans = json::array();
  // Few scopes per export (three at most): a linear search beats a map.
  std::vector<std::string_view> scopes;
  for (const Span& s : spans) {
    size_t i = 0;
    while (i < scopes.size() && scopes[i] != s.scope) ++i;
    if (i == scopes.size()) {
      scopes.push_back(s.scope);
      scope_spans.push_back({{"scope", {{"name", s.scope}}}, {"spans", json::array()}});
    }
    scope_spans[i]["spans"].push_back(span_json(s));
  }
  json body{{"resourceSpans", json::array({{{"resource", {{"attributes", attributes(resource)}}},
                                            {"scopeSpans", std::move(scope_spans)}}})}};
  // A stray byte in a message (an engine error text) must not fail the export.
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace waypoint
