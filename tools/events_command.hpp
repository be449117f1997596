#pragma once
// `waypoint events`: subscribes to the event hub (docs/architecture.md, "Observability") and prints
// its events, as JSON lines or one readable line each, optionally replaying
// the hub's buffer first. Every seq gap (messages lost at the high-water
// mark) is reported on stderr.
#include <string>

#include "base/result.hpp"
#include "base/subcommand.hpp"

namespace waypoint::cli {

Subcommand events_subcommand();

// The replay endpoint a tcp --connect address implies: the same host, the
// next port (the serve defaults are 5557 and 5558). Other transports have
// no default.
Result<std::string> default_replay_endpoint(const std::string& connect);

}  // namespace waypoint::cli
