#pragma once
// How hub events (docs/architecture.md, "Observability") are shown: as JSON lines for programs
// (`waypoint events --format jsonl`, read back by `waypoint fit`) and as one
// readable line per event for people (`--format pretty`).
//
// The JSONL format: one event per line, one flat object. "seq", "topic" and
// "producer" come first, then every attribute of the event in its order:
// integers as integers, doubles as numbers (a whole double keeps its ".0"),
// strings, bools, nil as null, integer lists as arrays. For example
//   {"seq":42,"topic":"journey","producer":"engine-0","event.type":"journey.SCHEDULED",
//    "request.id":"cmpl-1","ts.monotonic_ns":8123456789,"scheduler.step":12,"phase":"PREFILL"}
// A message with several events gives several lines with the same seq. An
// attribute that is itself called seq, topic or producer (none in the
// contract is) does not replace the envelope's value.
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "proto/event_hub_frame.hpp"

namespace waypoint {

nlohmann::ordered_json hub_event_json(uint64_t seq, std::string_view topic,
                                      const HubPayload& payload, const HubEvent& event);

// The line as written: compact, and never throwing on a string that is not UTF-8.
std::string hub_event_jsonl(uint64_t seq, std::string_view topic, const HubPayload& payload,
                            const HubEvent& event);

// One line per event. An event with a request.id shows that request's
// timeline: the time since the first event seen for it (from
// ts.monotonic_ns), the id, the event type and its attributes compactly:
//     +1.204 ms  cmpl-1                journey.SCHEDULED     step=2 phase=PREFILL ...
// Any other event (step.*, kv.*) shows its seq, topic, type and attributes:
//         #1234  step     step.BATCH_SUMMARY    step.id=2 queue.running_depth=3 ...
class PrettyPrinter {
 public:
  // At most this many unfinished requests are tracked; beyond it the oldest
  // is forgotten, so requests whose end is never seen cannot grow the map
  // without bound. A request that ended is kept (among the last 1024 ended)
  // until its other end event: the core's FINISHED and the API's DEPARTED
  // both end it, in either order, and both belong on its timeline.
  explicit PrettyPrinter(size_t max_tracked_requests = 100000);

  // The line for one event, without its newline.
  std::string line(uint64_t seq, std::string_view topic, const HubPayload& payload,
                   const HubEvent& event);

  // Requests whose first timestamp is held (tests).
  size_t tracked_requests() const { return requests_.size(); }

 private:
  struct Tracked {
    int64_t first_ns;
    bool ended;
    std::list<std::string>::iterator order;  // in live_ or ended_
  };
  using Map = std::unordered_map<std::string, Tracked>;

  Map::iterator track(const std::string& request_id, int64_t ts_ns);
  void ended(Map::iterator it);

  size_t max_tracked_;
  Map requests_;
  std::list<std::string> live_;   // oldest first
  std::list<std::string> ended_;  // ended, kept a little for the other side's end event
};

}  // namespace waypoint
