#pragma once
// The event hub's wire format (docs/architecture.md, "Observability"). A hub message is three ZMQ
// frames: [topic, seq as u64 big-endian, payload]. The payload is a
// self-describing msgpack map, so a subscriber in any language can read it:
//   {"ts": epoch seconds, "producer": "engine-0", "events": [{attr: value, ...}, ...]}
#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "base/result.hpp"

namespace waypoint {

inline constexpr std::string_view kTopicJourney = "journey";
inline constexpr std::string_view kTopicStep = "step";
inline constexpr std::string_view kTopicKv = "kv";

// A replay ends with the message [kTopicReplayEnd, kReplayEndSeq (seq -1), empty payload].
inline constexpr std::string_view kTopicReplayEnd = "replay.end";
inline constexpr uint64_t kReplayEndSeq = std::numeric_limits<uint64_t>::max();

// An int list carries KV block hashes and token ids; it is a msgpack array of
// integers on the wire. A double is always written as float64, so a reader
// never mistakes a whole double for an integer.
using AttrValue =
    std::variant<std::monostate, bool, int64_t, double, std::string, std::vector<int64_t>>;

// One event: ordered attribute keys ("event.type", "request.id", ...) and values.
struct HubEvent {
  std::vector<std::pair<std::string, AttrValue>> attrs;

  const AttrValue* find(std::string_view key) const;
  bool operator==(const HubEvent&) const = default;
};

struct HubPayload {
  double ts = 0.0;  // epoch seconds at publication
  std::string producer;
  std::vector<HubEvent> events;

  bool operator==(const HubPayload&) const = default;
};

struct HubFrame {
  std::string topic;
  uint64_t seq = 0;
  std::string payload;  // encoded HubPayload

  bool operator==(const HubFrame&) const = default;
};

std::array<char, 8> encode_seq(uint64_t seq);
Result<uint64_t> decode_seq(std::string_view frame);

std::string encode_hub_payload(const HubPayload& payload);
Result<HubPayload> decode_hub_payload(std::string_view bytes);

// The three parts in order, ready to send as one multipart message.
std::array<std::string, 3> encode_hub_frame(const HubFrame& frame);
Result<HubFrame> decode_hub_frame(const std::vector<std::string_view>& parts);

}  // namespace waypoint
