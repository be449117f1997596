#include "worker/tp_launcher.hpp"

#include <cblas.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "worker/tp_worker.hpp"

namespace waypoint {

namespace {
// Steps of the offline engine are small; the server broadcasts over ZMQ.
constexpr size_t kBroadcastBytes = 16u << 20;

// True while every follower runs. A follower reaped here is marked, so join()
// does not wait for it again.
bool followers_alive(std::vector<pid_t>& followers) {
  for (pid_t& pid : followers) {
    if (pid <= 0) continue;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      pid = -pid;  // reaped
      return false;
    }
  }
  return true;
}
}  // namespace

TpRanks::~TpRanks() {
  if (!followers) return;  // moved from
  for (pid_t pid : *followers) {
    if (pid <= 0) continue;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
}

Result<void> TpRanks::join() {
  std::string failed;
  for (size_t i = 0; i < followers->size(); ++i) {
    pid_t& pid = (*followers)[i];
    if (pid <= 0) continue;
    int status = 0;
    waitpid(pid, &status, 0);
    pid = -pid;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      failed += (failed.empty() ? "" : ", ") + std::to_string(i + 1);
    }
  }
  if (!failed.empty()) return Error{"tensor-parallel rank(s) " + failed + " failed"};
  return {};
}

Result<TpRanks> start_follower_ranks(int world_size, const ModelConfig& config,
                                     const WeightStore& store, const CpuModelRunnerConfig& runner,
                                     int64_t max_floats) {
  auto group = ShmTpGroup::create(world_size, static_cast<size_t>(max_floats), kBroadcastBytes);
  if (!group) return group.error();
  // The ranks share this machine's cores: one BLAS thread each keeps them from
  // oversubscribing it. Set before fork, so children inherit it.
  openblas_set_num_threads(1);
  TpRanks ranks;
  const pid_t parent = getpid();
  for (int r = 1; r < world_size; ++r) {
    const pid_t pid = fork();
    if (pid < 0) return Error{"cannot fork tensor-parallel rank " + std::to_string(r)};
    if (pid == 0) {
      ShmTpRank rank(*group, r, [parent] { return getppid() == parent; });
      auto weights = load_llama_weights(config, store, TpShard{r, world_size});
      if (!weights) {
        (*group)->abort("rank " + std::to_string(r) + ": " + weights.error().message);
        _exit(1);
      }
      CpuModelRunner follower(config, std::move(*weights), runner, rank);
      auto ok = run_tp_follower(rank, follower);
      if (!ok) std::fprintf(stderr, "waypoint: %s\n", ok.error().message.c_str());
      _exit(ok ? 0 : 1);
    }
    ranks.followers->push_back(pid);
  }
  ranks.leader = std::make_unique<ShmTpRank>(
      *group, 0, [followers = ranks.followers] { return followers_alive(*followers); });
  return ranks;
}

}  // namespace waypoint
