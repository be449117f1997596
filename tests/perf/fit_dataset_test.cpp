// `waypoint fit`'s training sets from a hand-written trace
// (data/fit_trace.jsonl): rows, flags, the alpha targets (microseconds) and
// the joins between journey and step events; and the report's arithmetic.
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "perf/fit_dataset.hpp"
#include "perf/fit_report.hpp"

namespace waypoint::fit {
namespace {

const std::string kTrace = std::string(WAYPOINT_TEST_DATA_DIR) + "/fit_trace.jsonl";

Dataset read_fixture(std::int64_t warmup, std::vector<std::size_t>* bad_lines = nullptr) {
  std::ifstream in(kTrace);
  EXPECT_TRUE(in) << kTrace;
  DatasetOptions options;
  options.warmup_steps = warmup;
  return read_dataset(in, options, [&](std::size_t line, const std::string&) {
    if (bad_lines) bad_lines->push_back(line);
  });
}

TEST(FitDataset, CountsLinesAndSkipsMalformedOnes) {
  std::vector<std::size_t> bad;
  const Dataset d = read_fixture(2, &bad);
  EXPECT_EQ(d.stats.lines, 23u);  // the blank line is not counted
  EXPECT_EQ(d.stats.malformed, 2u);
  EXPECT_EQ(bad, (std::vector<std::size_t>{10, 22}));  // not JSON; a summary without its keys
  EXPECT_EQ(d.stats.step_events, 6u);
  EXPECT_EQ(d.stats.journey_events, 14u);
  EXPECT_EQ(d.stats.ignored_events, 1u);   // the REQUEST_SNAPSHOT
  EXPECT_EQ(d.stats.unscheduled, 1u);      // req-e
  EXPECT_EQ(d.stats.without_arrival, 1u);  // req-d
}

TEST(FitDataset, StepRowsAndFlags) {
  const Dataset d = read_fixture(2);
  ASSERT_EQ(d.steps.size(), 6u);
  const std::vector<std::string> flags = {"warmup", "warmup", "", "", "preempted", ""};
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(d.steps[i].step_id, static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(d.steps[i].flag, flags[i]) << "step " << i + 1;
  }
  const StepRow& s3 = d.steps[2];
  EXPECT_EQ(s3.duration_us, 700);
  EXPECT_EQ(s3.ts_start_ns, 3000000);
  EXPECT_EQ(beta_features(s3), (std::vector<double>{1, 40, 1, 102, 40, 2, 1, 0}));
  EXPECT_EQ(beta_feature_names().size(), beta_features(s3).size());

  // With the default 10 warm-up steps, every step of this short trace is warm-up.
  for (const StepRow& s : read_fixture(10).steps) EXPECT_EQ(s.flag, "warmup");
}

TEST(FitDataset, AlphaTargetsAndJoins) {
  const Dataset d = read_fixture(2);
  ASSERT_EQ(d.requests.size(), 4u);  // req-e was never scheduled

  const RequestRow& a = d.requests[0];
  EXPECT_EQ(a.request_id, "req-a");
  EXPECT_DOUBLE_EQ(a.queue_wait_us(), 50);
  EXPECT_DOUBLE_EQ(*a.api_to_core_us(), 50);
  EXPECT_EQ(a.prompt_tokens, 100);
  EXPECT_EQ(a.state_step, 0);  // queued before any step ended: an empty engine
  EXPECT_EQ(a.flag, "warmup");

  const RequestRow& b = d.requests[1];
  EXPECT_EQ(b.request_id, "req-b");
  EXPECT_DOUBLE_EQ(b.queue_wait_us(), 300);  // to its FIRST scheduling, not the RESUME
  EXPECT_EQ(b.scheduled_step, 3);
  EXPECT_DOUBLE_EQ(*b.api_to_core_us(), 100);
  EXPECT_EQ(b.state_step, 2);  // step 2 ended at 2.5 ms, before QUEUED at 2.7 ms
  EXPECT_EQ(b.waiting_depth, 0);
  EXPECT_EQ(b.running_depth, 1);
  EXPECT_DOUBLE_EQ(b.kv_usage, 0.1);
  EXPECT_EQ(b.flag, "");
  EXPECT_EQ(alpha_features(b), (std::vector<double>{1, 40, 0, 1, 0.1}));

  const RequestRow& c = d.requests[2];
  EXPECT_EQ(c.request_id, "cmpl-c-0");
  EXPECT_DOUBLE_EQ(c.queue_wait_us(), 400);
  EXPECT_DOUBLE_EQ(*c.api_to_core_us(), 50);  // ARRIVED under the API id "cmpl-c"
  EXPECT_EQ(c.state_step, 4);
  EXPECT_EQ(c.waiting_depth, 1);
  EXPECT_EQ(c.running_depth, 2);
  EXPECT_EQ(c.flag, "preempted");  // admitted in step 5, which preempted req-b

  const RequestRow& dd = d.requests[3];
  EXPECT_EQ(dd.request_id, "req-d");
  EXPECT_DOUBLE_EQ(dd.queue_wait_us(), 300);
  EXPECT_FALSE(dd.api_to_core_us());
  EXPECT_EQ(dd.state_step, 5);
  EXPECT_DOUBLE_EQ(dd.kv_usage, 0.3);
  EXPECT_EQ(dd.flag, "");
}

TEST(FitDataset, CsvColumnsAndRows) {
  const Dataset d = read_fixture(2);
  std::ostringstream beta, alpha;
  write_beta_csv(beta, d);
  write_alpha_csv(alpha, d);
  std::istringstream bl(beta.str()), al(alpha.str());
  std::string header, row;
  std::getline(bl, header);
  EXPECT_EQ(header.rfind("step_duration_us,num_prefill,num_decode,prefill_tokens,decode_tokens,"
                         "kv_ratio,model_type,hw,tp,",
                         0),
            0u);
  EXPECT_NE(header.find("decode_ctx_tokens_sum,prefill_ctx_tokens_sum,batch_size"),
            std::string::npos);
  EXPECT_EQ(header.substr(header.size() - 5), ",flag");
  std::getline(bl, row);
  EXPECT_EQ(row.rfind("900,1,0,100,0,0.1,unknown,unknown,1,1,1000000,", 0), 0u) << row;
  EXPECT_EQ(row.substr(row.size() - 7), ",warmup");
  std::size_t rows = 1;
  while (std::getline(bl, row)) ++rows;
  EXPECT_EQ(rows, 6u);

  std::getline(al, header);
  EXPECT_EQ(header.rfind("alpha_latency_us,prompt_tokens,queue_depth,running_depth,kv_ratio,", 0),
            0u);
  std::getline(al, row);
  std::getline(al, row);
  EXPECT_EQ(row, "300,40,0,1,0.1,unknown,unknown,1,req-b,2700000,100,2,3,2,0,");
}

TEST(FitReport, MetricsAndHoldout) {
  const Metrics m = evaluate({1, 2, 3, 4}, {1, 2, 3, 5});
  EXPECT_DOUBLE_EQ(m.r2, 1.0 - 1.0 / 5.0);
  EXPECT_DOUBLE_EQ(m.mape, 100.0 * 0.25 / 4);
  EXPECT_TRUE(std::isnan(evaluate({2, 2}, {2, 2}).r2));  // constant y: undefined
  EXPECT_EQ(holdout_start(10, 0.2), 8u);
  EXPECT_EQ(holdout_start(10, 0.0), 10u);
  EXPECT_EQ(holdout_start(2, 0.2), 1u);  // at least one row each side
  EXPECT_EQ(holdout_start(1, 0.2), 1u);
}

TEST(FitReport, FitsOnTheEarlyRowsOnly) {
  // y = 3 x on the first 8 rows; the last 2 are off the line, so they must
  // not pull the fit, and they show up as holdout error.
  TargetData t;
  t.name = "t";
  t.features = {"x"};
  for (int i = 1; i <= 10; ++i) {
    t.x.push_back({static_cast<double>(i)});
    t.y.push_back(i <= 8 ? 3.0 * i : 100.0);
  }
  auto fit = fit_target(t, 0.2);
  ASSERT_TRUE(fit) << fit.error().message;
  EXPECT_NEAR(fit->coeffs[0], 3.0, 1e-9);
  EXPECT_EQ(fit->train_rows, 8u);
  EXPECT_EQ(fit->holdout.rows, 2u);
  EXPECT_NEAR(fit->train.r2, 1.0, 1e-12);
  EXPECT_GT(fit->holdout.mape, 50.0);
}

}  // namespace
}  // namespace waypoint::fit
