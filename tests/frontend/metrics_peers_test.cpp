// Frontends asking each other for their metrics over real ipc sockets: an
// answer comes back whole, a silent or missing peer never holds a scrape
// past the timeout, and the answering thread stops promptly.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/log.hpp"
#include "frontend/metrics_peers.hpp"
#include "tests/worker/scratch_dir.hpp"

namespace waypoint {
namespace {

using namespace std::chrono_literals;

struct Endpoints {
  testing::ScratchDir dir;
  std::vector<std::string> list;
  explicit Endpoints(int n) {
    for (int i = 0; i < n; ++i)
      list.push_back("ipc://" + (dir / ("metrics-" + std::to_string(i))).string());
  }
};

FrontendMetricsSnapshot snapshot_of(int32_t client, uint64_t prompt_tokens) {
  FrontendMetricsSnapshot s;
  s.client_index = client;
  s.requests.prompt_tokens = prompt_tokens;
  s.requests.success = {1, 2, 3, 4};
  return s;
}

TEST(MetricsPeers, EachFrontendGetsTheOthersSnapshots) {
  Logger log("test");
  Endpoints e(3);
  std::atomic<uint64_t> asked_of_1{0};
  MetricsPeers p0(
      e.list, 0, [] { return snapshot_of(0, 10); }, log);
  MetricsPeers p1(
      e.list, 1,
      [&] {
        ++asked_of_1;
        return snapshot_of(1, 20);
      },
      log);
  MetricsPeers p2(
      e.list, 2, [] { return snapshot_of(2, 30); }, log);

  auto got = p0.collect();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], snapshot_of(1, 20));
  EXPECT_EQ(got[1], snapshot_of(2, 30));
  EXPECT_EQ(asked_of_1.load(), 1u);
  // Asked again, asked afresh: a fresh socket each time.
  for (int i = 0; i < 5; ++i) ASSERT_EQ(p2.collect().size(), 2u);
  EXPECT_EQ(asked_of_1.load(), 6u);
}

TEST(MetricsPeers, APeerThatNeverAnswersCostsOneTimeoutAndItsLastSnapshotStandsIn) {
  Logger log("test");
  Endpoints e(3);
  MetricsPeers p0(
      e.list, 0, [] { return snapshot_of(0, 1); }, log, 200ms);
  auto p1 = std::make_unique<MetricsPeers>(
      e.list, 1, [] { return snapshot_of(1, 2); }, log);
  // Nobody ever binds frontend 2's endpoint.
  auto started = std::chrono::steady_clock::now();
  auto got = p0.collect();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1500ms);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].client_index, 1);

  // Frontend 1 goes away: the scrape still returns in time, with what it said last.
  p1.reset();
  started = std::chrono::steady_clock::now();
  got = p0.collect();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1500ms);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], snapshot_of(1, 2));

  // And it comes back.
  MetricsPeers again(
      e.list, 1, [] { return snapshot_of(1, 5); }, log);
  got = p0.collect();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], snapshot_of(1, 5));
}

TEST(MetricsPeers, ALoneFrontendBindsNothingAndAsksNobody) {
  Logger log("test");
  MetricsPeers alone(
      {}, 0, [] { return snapshot_of(0, 1); }, log);
  EXPECT_TRUE(alone.collect().empty());
  Endpoints e(1);
  MetricsPeers one(
      e.list, 0, [] { return snapshot_of(0, 1); }, log);
  EXPECT_TRUE(one.collect().empty());
}

TEST(MetricsPeers, StopsPromptly) {
  Logger log("test");
  Endpoints e(2);
  const auto started = std::chrono::steady_clock::now();
  {
    MetricsPeers p0(
        e.list, 0, [] { return snapshot_of(0, 1); }, log);
    MetricsPeers p1(
        e.list, 1, [] { return snapshot_of(1, 1); }, log);
    ASSERT_EQ(p0.collect().size(), 1u);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
}

}  // namespace
}  // namespace waypoint
