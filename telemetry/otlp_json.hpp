#pragma once
// The OTLP/HTTP JSON body of a trace export (ExportTraceServiceRequest, in
// the protobuf JSON mapping the OTLP specification fixes): trace and span ids
// as lowercase hex, 64-bit integers and nanosecond times as decimal strings,
// enums as numbers, field names in lowerCamelCase. One resourceSpans entry
// with one scopeSpans entry per instrumentation scope.
#include <string>
#include <vector>

#include "telemetry/otlp_span.hpp"

namespace waypoint {

// `resource` describes the process ("service.name", ...). Spans keep their
// order within each scope; scopes appear in the order of their first span.
std::string encode_otlp_traces(const std::vector<Span>& spans, const SpanAttributes& resource);

}  // namespace waypoint
