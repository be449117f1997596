#include "tools/event_format.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <type_traits>

#include "telemetry/trace_attributes.hpp"

namespace waypoint {

namespace {

using nlohmann::ordered_json;

constexpr size_t kIdWidth = 20;
constexpr size_t kTypeWidth = 21;
constexpr size_t kTopicWidth = 8;
// An int list longer than this shows its head and how many more there are.
constexpr size_t kListHead = 8;
// Ended requests kept for the other side's end event: the core's FINISHED
// and the API's DEPARTED both end a request, in either order.
constexpr size_t kRecentlyEnded = 1024;

ordered_json value_json(const AttrValue& value) {
  return std::visit(
      [](const auto& v) -> ordered_json {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, std::monostate>) {
          return nullptr;
        } else {
          return v;
        }
      },
      value);
}

// Bare when it reads unambiguously in a key=value list, JSON-quoted otherwise.
std::string string_text(const std::string& s) {
  const bool plain = !s.empty() && std::none_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) <= ' ' || c == '=' || c == '"';
  });
  if (plain) return s;
  return ordered_json(s).dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

std::string value_text(const AttrValue& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, std::monostate>) {
          return "null";
        } else if constexpr (std::is_same_v<V, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<V, int64_t>) {
          return std::to_string(v);
        } else if constexpr (std::is_same_v<V, double>) {
          char buf[32];
          std::snprintf(buf, sizeof buf, "%.6g", v);
          return buf;
        } else if constexpr (std::is_same_v<V, std::string>) {
          return string_text(v);
        } else {
          std::string out = "[";
          for (size_t i = 0; i < v.size() && i < kListHead; ++i) {
            if (i > 0) out += ',';
            out += std::to_string(v[i]);
          }
          if (v.size() > kListHead) out += ",...+" + std::to_string(v.size() - kListHead);
          return out + "]";
        }
      },
      value);
}

std::string padded(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

// The type column is padded only when attributes follow it: no trailing blanks.
std::string with_attributes(std::string head, const std::string& type, const std::string& attrs) {
  if (attrs.empty()) return head + type;
  head += padded(type, kTypeWidth);
  head += ' ';
  head += attrs;
  return head;
}

std::optional<std::string> request_id(const HubEvent& event) {
  const AttrValue* v = event.find(attr::kRequestId);
  if (v == nullptr) return std::nullopt;
  if (const auto* s = std::get_if<std::string>(v)) return *s;
  if (const auto* i = std::get_if<int64_t>(v)) return std::to_string(*i);
  return std::nullopt;
}

std::optional<int64_t> monotonic_ns(const HubEvent& event) {
  if (const AttrValue* v = event.find(attr::kTsMonotonicNs)) {
    if (const auto* i = std::get_if<int64_t>(v)) return *i;
  }
  if (const AttrValue* v = event.find(attr::kTsMonotonic)) {
    if (const auto* d = std::get_if<double>(v); d && std::isfinite(*d)) {
      return static_cast<int64_t>(std::llround(*d * 1e9));
    }
  }
  return std::nullopt;
}

bool ends_request(std::string_view type) {
  return type == event_name::kFinished || type == event_name::kDeparted ||
         type == event_name::kAborted;
}

// Shown in the line's columns, or noise next to them: never as key=value.
constexpr std::array<std::string_view, 5> kNotListed = {
    attr::kEventType, attr::kRequestId, attr::kTsMonotonic, attr::kTsMonotonicNs, attr::kTsEpochNs};

// The journey fields, short, in a fixed order: "done/total" pairs read at a glance.
struct Short {
  std::string_view key;
  std::string_view label;
  std::string_view total_key = {};  // set: shown as key/total_key
};
constexpr std::array<Short, 7> kShort = {{
    {attr::kSchedulerStep, "step"},
    {attr::kPhase, "phase"},
    {attr::kPrefillDoneTokens, "prefill", attr::kPrefillTotalTokens},
    {attr::kDecodeDoneTokens, "decode", attr::kDecodeMaxTokens},
    {attr::kNumPreemptions, "preempt"},
    {attr::kScheduleKind, "kind"},
    {attr::kFinishStatus, "status"},
}};

bool shown_short(std::string_view key) {
  return std::any_of(kShort.begin(), kShort.end(),
                     [&](const Short& s) { return s.key == key || s.total_key == key; });
}

std::string attributes_text(const HubEvent& event, bool shorten) {
  std::string out;
  const auto add = [&](std::string_view label, const std::string& text) {
    if (!out.empty()) out += ' ';
    out.append(label);
    out += '=';
    out += text;
  };
  if (shorten) {
    for (const Short& s : kShort) {
      const AttrValue* v = event.find(s.key);
      const AttrValue* total = s.total_key.empty() ? nullptr : event.find(s.total_key);
      if (v == nullptr && total == nullptr) continue;
      std::string text = v ? value_text(*v) : "?";
      if (!s.total_key.empty()) {
        text += '/';
        text += total ? value_text(*total) : "?";
      }
      add(s.label, text);
    }
  }
  for (const auto& [key, value] : event.attrs) {
    if (std::find(kNotListed.begin(), kNotListed.end(), key) != kNotListed.end()) continue;
    if (shorten && shown_short(key)) continue;
    add(key, value_text(value));
  }
  return out;
}

// A step event in one readable line: the summary's timing breakdown and batch
// shape, or a snapshot's request progress. Every key is still in jsonl.
std::string step_text(const HubEvent& event) {
  auto get = [&](std::string_view key) {
    const AttrValue* v = event.find(key);
    return v ? value_text(*v) : std::string("?");
  };
  auto str = [](std::initializer_list<std::string> parts) {
    std::string out;
    for (const auto& p : parts) out += p;
    return out;
  };
  if (event.find(attr::kRequestId) != nullptr) {
    return str({"step=", get(attr::kStepId), " req=", get(attr::kRequestId),
                " phase=", get(attr::kRequestPhase), " computed=",
                get(attr::kRequestNumComputedTokens), "/", get(attr::kNumPromptTokens),
                " scheduled=", get(attr::kRequestScheduledTokensThisStep),
                " out=", get(attr::kNumOutputTokens), " preempt=",
                get(attr::kRequestNumPreemptions), " blocks=", get(attr::kKvBlocksAllocatedGpu),
                " cached=", get(attr::kKvBlocksCachedGpu)});
  }
  return str({"step=", get(attr::kStepId), " ", get(attr::kStepDurationUs), "us (sched ",
              get(attr::kStepScheduleUs), " exec ", get(attr::kStepExecuteUs), " upd ",
              get(attr::kStepUpdateUs), " gap ", get(attr::kStepGapUs), ") running=",
              get(attr::kQueueRunningDepth), " waiting=", get(attr::kQueueWaitingDepth),
              " prefill=", get(attr::kBatchNumPrefillReqs), "/", get(attr::kBatchPrefillTokens),
              "tok decode=", get(attr::kBatchNumDecodeReqs), "/", get(attr::kBatchDecodeTokens),
              "tok finished=", get(attr::kBatchNumFinished), " preempted=",
              get(attr::kBatchNumPreempted), " kv=", get(attr::kKvUsageGpuRatio), " free=",
              get(attr::kKvBlocksFreeGpu), "/", get(attr::kKvBlocksTotalGpu)});
}

std::string event_type(const HubEvent& event) {
  const AttrValue* v = event.find(attr::kEventType);
  if (v == nullptr) return "?";
  if (const auto* s = std::get_if<std::string>(v)) return *s;
  return value_text(*v);
}

}  // namespace

ordered_json hub_event_json(uint64_t seq, std::string_view topic, const HubPayload& payload,
                            const HubEvent& event) {
  ordered_json j;
  j["seq"] = seq;
  j["topic"] = topic;
  j["producer"] = payload.producer;
  for (const auto& [key, value] : event.attrs) {
    if (key == "seq" || key == "topic" || key == "producer") continue;
    j[key] = value_json(value);
  }
  return j;
}

std::string hub_event_jsonl(uint64_t seq, std::string_view topic, const HubPayload& payload,
                            const HubEvent& event) {
  return hub_event_json(seq, topic, payload, event)
      .dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

PrettyPrinter::PrettyPrinter(size_t max_tracked_requests)
    : max_tracked_(std::max<size_t>(1, max_tracked_requests)) {}

std::string PrettyPrinter::line(uint64_t seq, std::string_view topic, const HubPayload&,
                                const HubEvent& event) {
  const std::string type = event_type(event);
  const std::optional<std::string> id = request_id(event);
  char column[48];
  if (topic == kTopicStep) {
    // Steps are not a request's timeline, snapshots included.
    char seq_text[24];
    std::snprintf(seq_text, sizeof seq_text, "#%llu", static_cast<unsigned long long>(seq));
    std::snprintf(column, sizeof column, "%14s", seq_text);
    // A step event from another producer may lack our keys: list what it has.
    const bool ours = event.find(attr::kStepDurationUs) != nullptr ||
                      event.find(attr::kRequestPhase) != nullptr;
    return with_attributes(
        std::string(column) + "  " + padded(std::string(topic), kTopicWidth) + " ", type,
        ours ? step_text(event) : attributes_text(event, false));
  }
  if (!id) {
    char seq_text[24];
    std::snprintf(seq_text, sizeof seq_text, "#%llu", static_cast<unsigned long long>(seq));
    std::snprintf(column, sizeof column, "%14s", seq_text);
    return with_attributes(
        std::string(column) + "  " + padded(std::string(topic), kTopicWidth) + " ", type,
        attributes_text(event, false));
  }

  const std::optional<int64_t> ts = monotonic_ns(event);
  auto it = requests_.find(*id);
  if (it == requests_.end() && ts) it = track(*id, *ts);
  if (it != requests_.end() && ts) {
    std::snprintf(column, sizeof column, "%+11.3f ms",
                  static_cast<double>(*ts - it->second.first_ns) / 1e6);
  } else {
    std::snprintf(column, sizeof column, "%11s ms", "?");
  }
  std::string out = with_attributes(std::string(column) + "  " + padded(*id, kIdWidth) + "  ", type,
                                    attributes_text(event, true));

  // Forgotten only now, after its own line measured against the first event.
  if (it != requests_.end() && ends_request(type)) ended(it);
  return out;
}

PrettyPrinter::Map::iterator PrettyPrinter::track(const std::string& request_id, int64_t ts_ns) {
  if (live_.size() >= max_tracked_) {
    requests_.erase(live_.front());
    live_.pop_front();
  }
  live_.push_back(request_id);
  return requests_.emplace(request_id, Tracked{ts_ns, false, std::prev(live_.end())}).first;
}

void PrettyPrinter::ended(Map::iterator it) {
  Tracked& t = it->second;
  if (t.ended) {
    // Both sides have now said it ended.
    ended_.erase(t.order);
    requests_.erase(it);
    return;
  }
  ended_.splice(ended_.end(), live_, t.order);
  t.ended = true;
  if (ended_.size() > std::min(kRecentlyEnded, max_tracked_)) {
    requests_.erase(ended_.front());
    ended_.pop_front();
  }
}

}  // namespace waypoint
