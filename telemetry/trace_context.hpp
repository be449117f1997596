#pragma once
// W3C Trace Context (https://www.w3.org/TR/trace-context/): the ids of a
// trace and a span, the `traceparent` header that carries them between
// processes, and a generator of fresh ids. A client's traceparent is
// continued; one that breaks the rules starts a new trace, as the
// recommendation says.
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace waypoint {

inline constexpr std::string_view kTraceparentHeader = "traceparent";
inline constexpr std::string_view kTracestateHeader = "tracestate";

// 16 bytes, kept as two big-endian halves so the hex form reads hi then lo.
struct TraceId {
  uint64_t hi = 0;
  uint64_t lo = 0;

  bool valid() const { return hi != 0 || lo != 0; }
  std::string hex() const;  // 32 lowercase hex digits
  bool operator==(const TraceId&) const = default;
};

struct SpanId {
  uint64_t value = 0;

  bool valid() const { return value != 0; }
  std::string hex() const;  // 16 lowercase hex digits
  bool operator==(const SpanId&) const = default;
};

inline constexpr uint8_t kTraceFlagSampled = 0x01;

// A parsed traceparent, plus the tracestate that travels with it.
struct TraceParent {
  TraceId trace_id;
  SpanId parent_id;
  uint8_t flags = 0;
  std::string trace_state;  // opaque to us, passed on as received

  bool operator==(const TraceParent&) const = default;
};

// nullopt unless `value` is a valid traceparent: version 00 and exactly
// "00-<32 hex>-<16 hex>-<2 hex>", lowercase, ids not all zero. A later version
// (not ff) is read by its first four fields, as the recommendation asks.
std::optional<TraceParent> parse_traceparent(std::string_view value);

// "00-<trace id>-<span id>-<flags>".
std::string format_traceparent(const TraceId& trace_id, const SpanId& span_id, uint8_t flags);

// The client's trace context from request headers (names compared without
// case). A repeated traceparent is invalid; repeated tracestate headers are
// joined with commas; tracestate is ignored without a valid traceparent.
std::optional<TraceParent> extract_trace_context(
    const std::vector<std::pair<std::string, std::string>>& headers);

// Random trace and span ids, lock-free: a counter through a mixing function,
// seeded from std::random_device, so two generators never share a sequence.
class TraceIdGenerator {
 public:
  TraceIdGenerator();
  explicit TraceIdGenerator(uint64_t seed);  // reproducible, for tests

  TraceId trace_id();
  SpanId span_id();

 private:
  uint64_t next();

  uint64_t seed_;
  std::atomic<uint64_t> counter_{0};
};

}  // namespace waypoint
