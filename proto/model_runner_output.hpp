#pragma once
// Workers -> engine core: what one step of the model produced.
#include <cstdint>
#include <string>
#include <vector>

#include <msgpack.hpp>

#include "proto/engine_core_request.hpp"

namespace waypoint {

// Rank 0's reply to a SchedulerOutput. A request whose prefill chunk did not
// reach the end of its tokens has an empty sampled list.
struct ModelRunnerOutput {
  static constexpr const char* kWireName = "ModelRunnerOutput";
  std::vector<std::string> req_ids;
  std::vector<std::vector<TokenId>> sampled_token_ids;  // parallel to req_ids
  uint64_t scheduler_step = 0;                          // echoes the SchedulerOutput it answers

  bool operator==(const ModelRunnerOutput&) const = default;
  MSGPACK_DEFINE_ARRAY(req_ids, sampled_token_ids, scheduler_step)
};

// Rank 0's reply to each step under `waypoint serve`: a status byte, then the
// encoded ModelRunnerOutput, or the reason the step failed.
inline constexpr char kStepReplyOk = 0;
inline constexpr char kStepReplyError = 1;

}  // namespace waypoint
