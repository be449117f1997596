#pragma once
// `waypoint fit`'s second input format (docs/fit.md): OTLP/HTTP JSON
// ExportTraceServiceRequest bodies, one per line, as the OpenTelemetry
// Collector's file exporter writes them and as Waypoint's own exporter POSTs
// them (telemetry/otlp_json). Every span event becomes the flat record a
// `waypoint events` JSONL line holds, so read_dataset joins both alike: the
// event name is event.type, and the attributes are decoded from their typed
// AnyValues (an intValue, a decimal string in the JSON mapping, is an integer
// again).
//
// The monotonic times fit joins on (ts.monotonic_ns, step.ts_start_ns, ...)
// are attributes of Waypoint's span events. timeUnixNano is the wall clock of
// the process that built the span, and is not interchangeable with them, so
// it only fills ts.epoch_ns when an event lacks it.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.hpp"

namespace waypoint::fit {

// A line parsed as JSON is an OTLP export when it is an object with
// "resourceSpans"; an event of `waypoint events` never has that key.
bool is_otlp_export(const nlohmann::json& line);

struct OtlpRecord {
  nlohmann::json event;  // keyed as a `waypoint events` line: event.type, request.id, ...
  std::string where;     // "span llm_core event 2 (journey.SCHEDULED)", for warnings
};

struct OtlpRecords {
  std::vector<OtlpRecord> events;  // in the order of the export
  // One reason per span event that could not be decoded; the other events
  // of the line are kept.
  std::vector<std::string> malformed;
};

// The span events of one export. An export whose structure above the events
// is broken (resourceSpans not an array, a span that is not an object, ...)
// is an Error: nothing in it can be placed.
Result<OtlpRecords> otlp_records(const nlohmann::json& export_request);

}  // namespace waypoint::fit
