#include "telemetry/trace_context.hpp"

#include <cstdio>
#include <random>

#include "base/splitmix64.hpp"

namespace waypoint {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is not allowed either
}

// `n` lowercase hex digits (n <= 16) into a number.
std::optional<uint64_t> parse_hex(std::string_view s) {
  uint64_t v = 0;
  for (char c : s) {
    const int d = hex_digit(c);
    if (d < 0) return std::nullopt;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  return v;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The recommendation lets a vendor drop a tracestate it would have to cut.
constexpr size_t kMaxTracestateLen = 512;

}  // namespace

std::string TraceId::hex() const {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(hi),
                static_cast<unsigned long long>(lo));
  return std::string(buf, 32);
}

std::string SpanId::hex() const {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(value));
  return std::string(buf, 16);
}

std::optional<TraceParent> parse_traceparent(std::string_view value) {
  value = trim(value);
  // version "-" trace-id "-" parent-id "-" flags: 2+1+32+1+16+1+2 = 55.
  constexpr size_t kLen = 55;
  if (value.size() < kLen) return std::nullopt;
  const auto version = parse_hex(value.substr(0, 2));
  if (!version || *version == 0xff) return std::nullopt;
  if (*version == 0 && value.size() != kLen) return std::nullopt;
  // A later version may append fields, always after a dash.
  if (value.size() > kLen && value[kLen] != '-') return std::nullopt;
  if (value[2] != '-' || value[35] != '-' || value[52] != '-') return std::nullopt;
  const auto hi = parse_hex(value.substr(3, 16));
  const auto lo = parse_hex(value.substr(19, 16));
  const auto parent = parse_hex(value.substr(36, 16));
  const auto flags = parse_hex(value.substr(53, 2));
  if (!hi || !lo || !parent || !flags) return std::nullopt;
  TraceParent tp;
  tp.trace_id = TraceId{*hi, *lo};
  tp.parent_id = SpanId{*parent};
  tp.flags = static_cast<uint8_t>(*flags);
  if (!tp.trace_id.valid() || !tp.parent_id.valid()) return std::nullopt;
  return tp;
}

std::string format_traceparent(const TraceId& trace_id, const SpanId& span_id, uint8_t flags) {
  char buf[3];
  std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned>(flags));
  return "00-" + trace_id.hex() + "-" + span_id.hex() + "-" + std::string(buf, 2);
}

std::optional<TraceParent> extract_trace_context(
    const std::vector<std::pair<std::string, std::string>>& headers) {
  const std::string* traceparent = nullptr;
  std::string state;
  for (const auto& [name, value] : headers) {
    if (iequals(name, kTraceparentHeader)) {
      if (traceparent != nullptr) return std::nullopt;  // two parents: neither is trusted
      traceparent = &value;
    } else if (iequals(name, kTracestateHeader)) {
      const std::string_view v = trim(value);
      if (v.empty()) continue;
      if (!state.empty()) state += ',';
      state += v;
    }
  }
  if (traceparent == nullptr) return std::nullopt;
  auto tp = parse_traceparent(*traceparent);
  if (!tp) return std::nullopt;
  if (state.size() <= kMaxTracestateLen) tp->trace_state = std::move(state);
  return tp;
}

TraceIdGenerator::TraceIdGenerator()
    : TraceIdGenerator((uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()) {}

TraceIdGenerator::TraceIdGenerator(uint64_t seed) : seed_(splitmix64(seed)) {}

uint64_t TraceIdGenerator::next() {
  return splitmix64(seed_ ^ splitmix64(counter_.fetch_add(1, std::memory_order_relaxed)));
}

TraceId TraceIdGenerator::trace_id() {
  TraceId id{next(), next()};
  if (!id.valid()) id.lo = 1;  // all zero is the one invalid id
  return id;
}

SpanId TraceIdGenerator::span_id() {
  SpanId id{next()};
  if (!id.valid()) id.value = 1;
  return id;
}

}  // namespace waypoint
