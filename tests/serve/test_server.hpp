#pragma once
// Starting a `waypoint serve` on the make-model fixture, and reading its
// /metrics, for the end-to-end test programs. WAYPOINT_BINARY and
// WAYPOINT_FIXTURE_DIR come from the build.
#include <algorithm>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/serve/http_client.hpp"
#include "tests/serve/serve_process.hpp"

namespace waypoint::testing {

inline const std::string kBinary = WAYPOINT_BINARY;
inline const std::string kModel = std::string(WAYPOINT_FIXTURE_DIR) + "/tiny-f32";

struct Server {
  std::unique_ptr<ServeProcess> process;
  uint16_t port = 0;
};

inline Server start(std::vector<std::string> args,
             std::vector<std::pair<std::string, std::string>> env = {}) {
  if (std::find(args.begin(), args.end(), "--model") == args.end() &&
      std::find(args.begin(), args.end(), "--no-model") == args.end()) {
    args.insert(args.begin(), {"--model", kModel, "--served-model-name", "tiny"});
  }
  args.erase(std::remove(args.begin(), args.end(), "--no-model"), args.end());
  Server s;
  s.process = std::make_unique<ServeProcess>(kBinary, args, env);
  auto port = s.process->wait_until_serving();
  if (!port) ADD_FAILURE() << "server did not come up:\n" << s.process->log();
  s.port = port.value_or(0);
  return s;
}

inline nlohmann::json post_json(uint16_t port, const std::string& path, const nlohmann::json& body, int* status = nullptr) {
  auto reply = http_call(port, "POST", path, body.dump());
  if (!reply) {
    ADD_FAILURE() << "no reply to POST " << path;
    return nlohmann::json();
  }
  if (status) *status = reply->status;
  return nlohmann::json::parse(reply->body, nullptr, false);
}

// The value of one sample line in /metrics ("name{labels} value").
inline double metric(uint16_t port, const std::string& name) {
  auto reply = http_call(port, "GET", "/metrics");
  if (!reply) return -1;
  const std::regex line("(^|\n)" + std::regex_replace(name, std::regex(":"), ":") +
                        R"(\{[^}]*\} ([-0-9.e+]+))");
  std::smatch m;
  if (!std::regex_search(reply->body, m, line)) return -1;
  return std::stod(m[2]);
}

}  // namespace waypoint::testing
