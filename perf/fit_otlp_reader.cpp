#include "perf/fit_otlp_reader.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>

#include "telemetry/trace_attributes.hpp"

namespace waypoint::fit {

namespace {

using nlohmann::json;

// A repeated field of the protobuf JSON mapping: absent means empty (default
// values are omitted), anything but an array is a broken message.
Result<const json*> repeated(const json& message, std::string_view field, const std::string& what) {
  static const json kEmpty = json::array();
  const auto it = message.find(std::string(field));
  if (it == message.end() || it->is_null()) return &kEmpty;
  if (!it->is_array()) return Error{what + ": '" + std::string(field) + "' is not an array"};
  return &*it;
}

// The repeated `field` of the message found at `where`, which must be an object.
Result<const json*> members(const json& message, std::string_view field, const std::string& where) {
  if (!message.is_object()) return Error{where + " is not an object"};
  return repeated(message, field, where);
}

// int64 and fixed64 are decimal strings in the JSON mapping; a reader must
// take a plain number too.
std::optional<std::int64_t> int64_of(const json& v) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (d != std::floor(d) || !(std::abs(d) < 9.2e18)) return std::nullopt;
    return static_cast<std::int64_t>(d);
  }
  if (!v.is_string()) return std::nullopt;
  const std::string& s = v.get_ref<const std::string&>();
  std::int64_t out = 0;
  const char* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, out);
  if (ec != std::errc{} || ptr != end || s.empty()) return std::nullopt;
  return out;
}

// A double may be a number or, for the values JSON has no literal for, one
// of the mapping's strings.
std::optional<double> double_of(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (!v.is_string()) return std::nullopt;
  const std::string& s = v.get_ref<const std::string&>();
  if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (s == "Infinity") return std::numeric_limits<double>::infinity();
  if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
  return std::nullopt;
}

Result<json> decode_any_value(const json& value);

// KeyValue lists: attributes, and kvlistValue's values.
Result<json> decode_key_values(const json& list) {
  json out = json::object();
  for (const json& kv : list) {
    if (!kv.is_object()) return Error{"an attribute that is not an object"};
    const auto key = kv.find("key");
    if (key == kv.end() || !key->is_string()) return Error{"an attribute without a string 'key'"};
    const auto value = kv.find("value");
    // An absent value is an empty AnyValue: null, as `waypoint events` writes nil.
    Result<json> decoded = value == kv.end() ? Result<json>(json()) : decode_any_value(*value);
    if (!decoded) {
      return Error{"attribute '" + key->get<std::string>() + "': " + decoded.error().message};
    }
    out[key->get<std::string>()] = std::move(*decoded);
  }
  return out;
}

Result<json> decode_any_value(const json& value) {
  if (value.is_null()) return json();
  if (!value.is_object()) return Error{"the value is not an AnyValue object"};
  if (value.empty()) return json();
  if (const auto it = value.find("stringValue"); it != value.end()) {
    if (!it->is_string()) return Error{"stringValue is not a string"};
    return *it;
  }
  if (const auto it = value.find("boolValue"); it != value.end()) {
    if (!it->is_boolean()) return Error{"boolValue is not a boolean"};
    return *it;
  }
  if (const auto it = value.find("intValue"); it != value.end()) {
    const auto v = int64_of(*it);
    if (!v) return Error{"intValue is not a 64-bit integer"};
    return json(*v);
  }
  if (const auto it = value.find("doubleValue"); it != value.end()) {
    const auto v = double_of(*it);
    if (!v) return Error{"doubleValue is not a number"};
    return json(*v);
  }
  if (const auto it = value.find("arrayValue"); it != value.end()) {
    if (!it->is_object()) return Error{"arrayValue is not an object"};
    auto values = repeated(*it, "values", "arrayValue");
    if (!values) return values.error();
    json out = json::array();
    for (const json& v : **values) {
      auto decoded = decode_any_value(v);
      if (!decoded) return decoded.error();
      out.push_back(std::move(*decoded));
    }
    return out;
  }
  if (const auto it = value.find("kvlistValue"); it != value.end()) {
    if (!it->is_object()) return Error{"kvlistValue is not an object"};
    auto values = repeated(*it, "values", "kvlistValue");
    if (!values) return values.error();
    return decode_key_values(**values);
  }
  if (const auto it = value.find("bytesValue"); it != value.end()) {
    if (!it->is_string()) return Error{"bytesValue is not a string"};
    return *it;  // base64, kept as the text: nothing fit reads is bytes
  }
  return Error{"an AnyValue of no known kind"};
}

std::string string_or(const json& object, std::string_view key, std::string fallback) {
  const auto it = object.find(std::string(key));
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::move(fallback);
}

// One span event as a `waypoint events` record. `span_attrs` supplies what a
// foreign exporter may have put on the span instead of on each event.
Result<json> event_record(const json& event, const json& span_attrs) {
  if (!event.is_object()) return Error{"not an object"};
  const auto name = event.find("name");
  if (name == event.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    return Error{"no event name"};
  }
  auto attrs = repeated(event, "attributes", "event");
  if (!attrs) return attrs.error();
  auto record = decode_key_values(**attrs);
  if (!record) return record.error();
  json& r = *record;
  // The name is the event's type on the wire; an attribute cannot contradict it.
  r[std::string(attr::kEventType)] = *name;
  const std::string request_id(attr::kRequestId);
  if (!r.contains(request_id)) {
    // Waypoint's events carry request.id (for API events the HTTP request's
    // id, which is what the JSONL holds); the span's gen_ai.request.id is the
    // engine id, which read_dataset joins to the API id as well.
    if (const auto it = span_attrs.find(std::string(attr::kGenAiRequestId));
        it != span_attrs.end() && it->is_string()) {
      r[request_id] = *it;
    }
  }
  if (const auto t = event.find("timeUnixNano"); t != event.end()) {
    const auto ns = int64_of(*t);
    if (!ns) return Error{"timeUnixNano is not a 64-bit integer"};
    if (!r.contains(std::string(attr::kTsEpochNs))) r[std::string(attr::kTsEpochNs)] = *ns;
  }
  return std::move(r);
}

}  // namespace

bool is_otlp_export(const json& line) { return line.is_object() && line.contains("resourceSpans"); }

Result<OtlpRecords> otlp_records(const json& export_request) {
  OtlpRecords out;
  auto resources = repeated(export_request, "resourceSpans", "ExportTraceServiceRequest");
  if (!resources) return resources.error();
  std::size_t r_index = 0;
  for (const json& resource : **resources) {
    const std::string r_where = "resourceSpans[" + std::to_string(r_index++) + "]";
    auto scopes = members(resource, "scopeSpans", r_where);
    if (!scopes) return scopes.error();
    std::size_t s_index = 0;
    for (const json& scope : **scopes) {
      const std::string s_where = r_where + ".scopeSpans[" + std::to_string(s_index++) + "]";
      auto spans = members(scope, "spans", s_where);
      if (!spans) return spans.error();
      std::size_t sp_index = 0;
      for (const json& span : **spans) {
        const std::string sp_where = s_where + ".spans[" + std::to_string(sp_index++) + "]";
        auto events = members(span, "events", sp_where);
        if (!events) return events.error();
        if ((*events)->empty()) continue;
        // The span's own attributes only serve as a fallback for request.id;
        // ones that do not decode cost nothing but that fallback.
        json span_attrs = json::object();
        if (auto list = repeated(span, "attributes", sp_where); list) {
          if (auto decoded = decode_key_values(**list); decoded) span_attrs = std::move(*decoded);
        }
        const std::string span_name = string_or(span, "name", sp_where);
        std::size_t e_index = 0;
        for (const json& event : **events) {
          std::string where = "span " + span_name + " event " + std::to_string(e_index++);
          if (event.is_object()) where += " (" + string_or(event, "name", "unnamed") + ")";
          auto record = event_record(event, span_attrs);
          if (!record) {
            out.malformed.push_back("OTLP " + where + ": " + record.error().message);
            continue;
          }
          out.events.push_back(OtlpRecord{std::move(*record), "OTLP " + std::move(where)});
        }
      }
    }
  }
  return out;
}

}  // namespace waypoint::fit
