// `waypoint bench` against a real `waypoint serve`: the binary as a user
// runs it, a small random workload, and its figures checked against what
// was asked and against the server's own /metrics counters.
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/closed_port.hpp"
#include "tests/frontend/exposition.hpp"
#include "tests/serve/http_client.hpp"
#include "tests/serve/test_server.hpp"
#include "tests/wait_for.hpp"

namespace waypoint::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

struct BenchRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

BenchRun run_bench(const std::string& args) {
  BenchRun run;
  const std::string command = kBinary + " bench " + args + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  std::array<char, 4096> buffer;
  size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) run.output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

// A counter summed over its label sets (request_success_total has one per finish reason).
double counter_sum(uint16_t port, const std::string& name) {
  auto reply = http_call(port, "GET", "/metrics");
  if (!reply || reply->status != 200) return -1;
  double sum = 0;
  for (const Sample& s : parse_exposition(reply->body)) {
    if (s.name == name) sum += s.value;
  }
  return sum;
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "waypoint-bench-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data()) ? pattern : "";
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(BenchServe, RandomWorkloadAgreesWithTheServersCounters) {
  Server server = start({"--max-model-len", "256"});
  ASSERT_NE(server.port, 0);
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string result_path = dir.path() + "/result.json";
  constexpr int kPrompts = 24, kInputLen = 16, kOutputLen = 8;
  const BenchRun run = run_bench("--base-url http://127.0.0.1:" + std::to_string(server.port) +
                            " --dataset-name random --num-prompts " + std::to_string(kPrompts) +
                            " --random-input-len " + std::to_string(kInputLen) +
                            " --random-output-len " + std::to_string(kOutputLen) +
                            " --request-rate 50 --max-concurrency 8 --seed 1"
                            " --goodput ttft:60000 e2el:60000 --result-json " + result_path);
  std::cout << run.output;
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("Serving Benchmark Result"), std::string::npos);
  EXPECT_NE(run.output.find("P99 TTFT (ms):"), std::string::npos);
  EXPECT_NE(run.output.find("24/24 requests done, 0 failed"), std::string::npos);

  std::ifstream file(result_path);
  const json result = json::parse(file, nullptr, false);
  ASSERT_FALSE(result.is_discarded());
  EXPECT_EQ(result["completed"], kPrompts);
  EXPECT_EQ(result["failed"], 0);
  EXPECT_EQ(result["model_id"], "tiny");  // read from /v1/models
  // ignore_eos and token-id prompts make the lengths exact.
  EXPECT_EQ(result["total_input_tokens"], kPrompts * kInputLen);
  EXPECT_EQ(result["total_output_tokens"], kPrompts * kOutputLen);
  ASSERT_EQ(result["output_lens"].size(), static_cast<size_t>(kPrompts));
  for (const auto& n : result["output_lens"]) EXPECT_EQ(n, kOutputLen);
  ASSERT_EQ(result["itls"].size(), static_cast<size_t>(kPrompts));
  for (const auto& e : result["errors"]) EXPECT_EQ(e, "");
  // Each response's id, distinct: what `waypoint fit` pairs with the trace's request.id.
  ASSERT_EQ(result["response_ids"].size(), static_cast<size_t>(kPrompts));
  std::set<std::string> ids;
  for (const auto& id : result["response_ids"]) {
    EXPECT_EQ(id.get<std::string>().rfind("cmpl-", 0), 0u) << id;
    ids.insert(id.get<std::string>());
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kPrompts));
  EXPECT_GT(result["mean_ttft_ms"].get<double>(), 0);
  EXPECT_GT(result["mean_tpot_ms"].get<double>(), 0);
  EXPECT_GE(result["p99_itl_ms"].get<double>(), result["median_itl_ms"].get<double>());
  EXPECT_GE(result["p90_e2el_ms"].get<double>(), 0);
  EXPECT_GT(result["request_throughput"].get<double>(), 0);
  EXPECT_DOUBLE_EQ(result["request_goodput"].get<double>(), result["request_throughput"].get<double>());
  EXPECT_EQ(result["histograms"]["ttft_seconds"]["cumulative_counts"].back(), kPrompts);

  // The server counted what the bench did (its counters settle as responses end).
  const bool agree = wait_for(
      [&] {
        return counter_sum(server.port, "vllm:generation_tokens_total") == kPrompts * kOutputLen &&
               counter_sum(server.port, "vllm:request_success_total") == kPrompts;
      },
      5s);
  EXPECT_TRUE(agree) << "generation_tokens_total "
                     << counter_sum(server.port, "vllm:generation_tokens_total")
                     << ", request_success_total "
                     << counter_sum(server.port, "vllm:request_success_total");
}

TEST(BenchServe, BadFlagIsOneLineWithExitCodeTwo) {
  const BenchRun run = run_bench("--no-such-flag");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.output.find("no-such-flag"), std::string::npos) << run.output;
  EXPECT_EQ(std::count(run.output.begin(), run.output.end(), '\n'), 1) << run.output;
  const BenchRun rate = run_bench("--request-rate fast");
  EXPECT_EQ(rate.exit_code, 2);
  EXPECT_NE(rate.output.find("--request-rate"), std::string::npos) << rate.output;
}

TEST(BenchServe, UnreachableServerFailsClearly) {
  const BenchRun run = run_bench("--base-url " + closed_port_url() + " --num-prompts 1");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("/v1/models"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace waypoint::testing
