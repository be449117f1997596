// --compare: every figure present on both sides, with (predicted -
// measured) / measured.
#include "perf/sim_compare.hpp"

#include <gtest/gtest.h>

namespace waypoint::sim {
namespace {

TEST(SimCompare, RelativeErrorOfEachFigure) {
  const nlohmann::json predicted = {{"mean_ttft_ms", 11.0},
                                    {"p90_e2el_ms", 90.0},
                                    {"p99_e2el_ms", 120.0},
                                    {"request_throughput", 5.0},
                                    {"mean_tpot_ms", 1.0}};
  const nlohmann::json measured = {{"mean_ttft_ms", 10.0},
                                   {"p90_e2el_ms", 100.0},
                                   {"request_throughput", 5.0},
                                   {"mean_tpot_ms", 0.0}};
  const Comparison c = compare(predicted, {measured});
  EXPECT_NEAR(c.json["mean_ttft_ms"]["error_percent"].get<double>(), 10.0, 1e-9);
  EXPECT_NEAR(c.json["p90_e2el_ms"]["error_percent"].get<double>(), -10.0, 1e-9);
  EXPECT_NEAR(c.json["request_throughput"]["error_percent"].get<double>(), 0.0, 1e-9);
  EXPECT_TRUE(c.json["mean_tpot_ms"]["error_percent"].is_null());  // measured 0
  EXPECT_FALSE(c.json.contains("p99_e2el_ms"));                    // not measured
  EXPECT_NE(c.table.find("Mean TTFT (ms)"), std::string::npos);
  EXPECT_NE(c.table.find("+10.0%"), std::string::npos);
  EXPECT_NE(c.table.find("P90 E2EL (ms)"), std::string::npos);
  EXPECT_NE(c.table.find("-10.0%"), std::string::npos);
}

// Several runs: their mean is the measurement, their range its spread.
TEST(SimCompare, SeveralRunsAreAveraged) {
  const nlohmann::json predicted = {{"mean_e2el_ms", 100.0}, {"mean_ttft_ms", 5.0}};
  const Comparison c = compare(
      predicted, {{{"mean_e2el_ms", 90.0}, {"mean_ttft_ms", 5.0}}, {{"mean_e2el_ms", 110.0}}});
  const auto& row = c.json["mean_e2el_ms"];
  EXPECT_DOUBLE_EQ(row["measured"].get<double>(), 100.0);
  EXPECT_DOUBLE_EQ(row["measured_min"].get<double>(), 90.0);
  EXPECT_DOUBLE_EQ(row["measured_max"].get<double>(), 110.0);
  EXPECT_DOUBLE_EQ(row["error_percent"].get<double>(), 0.0);
  EXPECT_FALSE(c.json.contains("mean_ttft_ms"));  // not in every run
  EXPECT_NE(c.table.find("mean of 2"), std::string::npos) << c.table;
  EXPECT_NE(c.table.find("+-10.0%"), std::string::npos) << c.table;
}

}  // namespace
}  // namespace waypoint::sim
