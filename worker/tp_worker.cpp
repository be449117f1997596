#include "worker/tp_worker.hpp"

#include "proto/codec.hpp"

namespace waypoint {

namespace {
// The first byte of each broadcast says what follows.
constexpr char kStep = 'S';
constexpr char kShutdown = 'Q';
}  // namespace

ModelRunnerOutput TpLeaderExecutor::execute_model(const SchedulerOutput& step) {
  message_.assign(1, kStep);
  message_ += encode(step);
  rank_.broadcast(message_);
  return runner_.execute_model(step);
}

void TpLeaderExecutor::shutdown() {
  message_.assign(1, kShutdown);
  rank_.broadcast(message_);
}

Result<void> run_tp_follower(ShmTpRank& rank, CpuModelRunner& runner) {
  std::string message;
  try {
    for (;;) {
      rank.broadcast(message);
      if (message.empty() || message[0] == kShutdown) return {};
      auto step = decode<SchedulerOutput>(std::string_view(message).substr(1));
      if (!step) {
        rank.group().abort("rank " + std::to_string(rank.rank()) + ": " + step.error().message);
        return step.error();
      }
      (void)runner.execute_model(*step);
    }
  } catch (const std::exception& e) {
    const std::string why = "rank " + std::to_string(rank.rank()) + ": " + e.what();
    rank.group().abort(why);
    return Error{why};
  }
}

}  // namespace waypoint
