#pragma once
// An executor that answers each step with deterministic pseudo-random tokens
// instead of running a model. It follows requests the way a worker does, from
// the SchedulerOutput diffs alone, so it samples exactly when a real worker
// would: when a step's chunk reaches the end of the request's known tokens.
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "proto/executor.hpp"

namespace waypoint {

struct SyntheticExecutorConfig {
  int32_t vocab_size = 32000;
  std::optional<TokenId> eos_token_id;  // emitted with eos_probability, never otherwise
  double eos_probability = 0.0;
  uint64_t seed = 0;
};

class SyntheticExecutor final : public Executor {
 public:
  explicit SyntheticExecutor(SyntheticExecutorConfig config = {}) : config_(config) {}

  // Throws std::logic_error if the step names a request it was never sent:
  // that is a scheduler bug, not a runtime condition.
  ModelRunnerOutput execute_model(const SchedulerOutput& step) override;

  size_t num_tracked_requests() const { return requests_.size(); }

 private:
  struct Tracked {
    int32_t num_tokens = 0;
    uint64_t stream = 0;  // per-request seed, from the request id
  };
  TokenId token_for(const Tracked& request, int32_t position) const;

  SyntheticExecutorConfig config_;
  std::unordered_map<std::string, Tracked> requests_;
};

}  // namespace waypoint
