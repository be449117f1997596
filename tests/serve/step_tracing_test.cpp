// Step tracing end to end (docs/step-tracing.md): a real server stepping
// under preemption, its step topic recorded by the real `waypoint events`,
// and every summary and snapshot checked on what came out.
#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "proto/event_hub_frame.hpp"
#include "telemetry/trace_attributes.hpp"
#include "tests/launcher/hub_test_support.hpp"
#include "tests/serve/events_recorder.hpp"
#include "tests/serve/http_client.hpp"
#include "tests/serve/test_server.hpp"
#include "tests/worker/scratch_dir.hpp"

namespace waypoint::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

int64_t i64(const json& j, std::string_view key) { return j.at(std::string(key)).get<int64_t>(); }

bool idle(uint16_t port) {
  return metric(port, "vllm:num_requests_running") == 0 &&
         metric(port, "vllm:num_requests_waiting") == 0;
}

// n completions of known length, from `threads` clients at once.
void send_load(uint16_t port, int threads, int per_thread) {
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < threads; ++t) {
    clients.emplace_back([&, t] {
      std::mt19937 rng(500 + t);
      for (int i = 0; i < per_thread; ++i) {
        json prompt = json::array();
        const int len = 8 + static_cast<int>(rng() % 80);
        for (int k = 0; k < len; ++k) prompt.push_back(10 + static_cast<int>(rng() % 400));
        int status = 0;
        post_json(port, "/v1/completions",
                  {{"prompt", prompt}, {"max_tokens", 4 + static_cast<int>(rng() % 24)},
                   {"ignore_eos", true}},
                  &status);
        if (status != 200) ++failures;
      }
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(StepTracingEndToEnd, EveryStepOnceWithConsistentSummariesAndSnapshots) {
  // 31 usable blocks of 16 tokens for 16 requests of up to 115 tokens: preempts.
  auto server = start({"--step-tracing-enabled", "--step-tracing-sample-rate", "1",
                       "--step-tracing-rich-subsample-rate", "0.25", "--num-gpu-blocks-override",
                       "32", "--max-num-seqs", "16", "--max-model-len", "256",
                       "--long-prefill-token-threshold", "32", "--event-buffer", "200000"});
  ASSERT_NE(server.port, 0);
  const auto hub = server.process->event_endpoints();
  ASSERT_TRUE(hub) << server.process->log();
  ScratchDir dir;
  const auto out = dir.path() / "steps.jsonl";
  const auto err = dir.path() / "steps.err";
  EventsRecorder recorder(hub->first, hub->second, out, err, {"--topic", "step"});

  constexpr int kThreads = 16, kPerThread = 8;
  send_load(server.port, kThreads, kPerThread);
  ASSERT_TRUE(wait_for([&] { return idle(server.port); }, 20s));
  const auto last_step = static_cast<int64_t>(metric(server.port, "waypoint:scheduler_step"));
  ASSERT_GT(last_step, 0);
  ASSERT_TRUE(wait_for(
      [&] {
        const auto lines = read_jsonl(out);
        return std::any_of(lines.begin(), lines.end(), [&](const json& j) {
          return j.value("event.type", "") == event_name::kBatchSummary &&
                 i64(j, attr::kStepId) == last_step;
        });
      },
      20s))
      << "the last step's summary never arrived";
  EXPECT_EQ(recorder.stop(), 0);

  std::map<int64_t, json> summaries;
  std::map<int64_t, std::vector<json>> snapshots;
  for (const json& j : read_jsonl(out)) {
    ASSERT_EQ(j.at("topic"), "step");
    EXPECT_EQ(j.at("producer"), "engine-0");
    const std::string type = j.at("event.type");
    const int64_t step = i64(j, attr::kStepId);
    if (type == event_name::kBatchSummary) {
      EXPECT_TRUE(summaries.emplace(step, j).second) << "step " << step << " twice";
    } else {
      ASSERT_EQ(type, event_name::kRequestSnapshot);
      snapshots[step].push_back(j);
    }
  }
  // At rate 1.0: every step from the first to the last, each exactly once.
  ASSERT_EQ(summaries.size(), static_cast<size_t>(last_step));
  EXPECT_EQ(summaries.begin()->first, 1);
  EXPECT_EQ(summaries.rbegin()->first, last_step);

  int64_t finished = 0, preempted = 0, gaps = 0;
  for (const auto& [step, s] : summaries) {
    SCOPED_TRACE("step " + std::to_string(step));
    EXPECT_EQ(i64(s, attr::kBatchPrefillTokens) + i64(s, attr::kBatchDecodeTokens),
              i64(s, attr::kBatchScheduledTokens));
    const int64_t batch = i64(s, attr::kBatchNumPrefillReqs) + i64(s, attr::kBatchNumDecodeReqs);
    EXPECT_LE(batch, i64(s, attr::kQueueRunningDepth));
    EXPECT_EQ(i64(s, attr::kBatchDecodeTokens), i64(s, attr::kBatchNumDecodeReqs));
    EXPECT_LE(i64(s, attr::kKvBlocksFreeGpu), i64(s, attr::kKvBlocksTotalGpu));
    EXPECT_EQ(i64(s, attr::kKvBlocksTotalGpu), 31);
    EXPECT_GE(i64(s, attr::kStepDurationUs), i64(s, attr::kStepScheduleUs) +
                                                 i64(s, attr::kStepExecuteUs) +
                                                 i64(s, attr::kStepUpdateUs));
    // The model ran inside the step: a step of a real forward pass is not free.
    if (batch > 0) {
      EXPECT_GT(i64(s, attr::kStepExecuteUs), 0);
    }
    EXPECT_EQ(i64(s, attr::kStepDurationUs),
              (i64(s, attr::kStepTsEndNs) - i64(s, attr::kStepTsStartNs)) / 1000);
    EXPECT_EQ(i64(s, attr::kSchedulerStep), step);
    finished += i64(s, attr::kBatchNumFinished);
    preempted += i64(s, attr::kBatchNumPreempted);
    gaps += i64(s, attr::kStepGapUs) > 0;

    auto it = snapshots.find(step);
    if (it == snapshots.end()) continue;
    // A rich step snapshots every running request, and they add up to the batch.
    EXPECT_EQ(static_cast<int64_t>(it->second.size()), i64(s, attr::kQueueRunningDepth));
    int64_t scheduled = 0;
    std::set<std::string> ids;
    for (const json& r : it->second) {
      scheduled += i64(r, attr::kRequestScheduledTokensThisStep);
      ids.insert(r.at(std::string(attr::kRequestId)).get<std::string>());
      const std::string phase = r.at(std::string(attr::kRequestPhase));
      EXPECT_TRUE(phase == "PREFILL" || phase == "DECODE") << phase;
      EXPECT_LE(i64(r, attr::kKvBlocksCachedGpu), i64(r, attr::kKvBlocksAllocatedGpu));
      EXPECT_LE(i64(r, attr::kRequestEffectivePromptLen), i64(r, attr::kNumPromptTokens));
    }
    EXPECT_EQ(scheduled, i64(s, attr::kBatchScheduledTokens));
    EXPECT_EQ(ids.size(), it->second.size()) << "one snapshot per request";
  }
  EXPECT_EQ(finished, kThreads * kPerThread) << "every request finishes in exactly one step";
  EXPECT_GT(preempted, 0) << "the scenario was meant to preempt";
  EXPECT_GT(gaps, 0);
  EXPECT_FALSE(snapshots.empty()) << "a quarter of the steps are rich";
  for (const auto& [step, list] : snapshots) EXPECT_TRUE(summaries.count(step)) << step;
}

TEST(StepTracingEndToEnd, OffByDefault) {
  auto server = start({"--max-num-seqs", "8"});
  ASSERT_NE(server.port, 0);
  const auto hub = server.process->event_endpoints();
  ASSERT_TRUE(hub);
  send_load(server.port, 2, 2);
  ASSERT_TRUE(wait_for([&] { return idle(server.port); }, 20s));
  zmq::context_t context(1);
  Replay r = replay_from(context, hub->second, 0);
  ASSERT_TRUE(r.ended);
  for (const auto& f : r.frames) EXPECT_NE(f.topic, kTopicStep);
}

}  // namespace
}  // namespace waypoint::testing
