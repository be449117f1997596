// coeffs.json into the simulator's model: the features must be this
// build's, what is missing is named, and a step is priced from the same
// features `waypoint fit` fitted.
#include "perf/sim_model.hpp"

#include <gtest/gtest.h>

#include "perf/fit_dataset.hpp"
#include "perf/fit_hops.hpp"

namespace waypoint::sim {
namespace {

nlohmann::json fitted(const std::vector<std::string>& features, std::vector<double> coeffs) {
  return {{"features", features}, {"coefficients", coeffs}};
}

nlohmann::json full_coeffs() {
  std::vector<double> beta(fit::beta_feature_names().size(), 0.0);
  beta[0] = 300;  // intercept
  beta[1] = 2;    // per prefill token
  beta[2] = 50;   // per decode token
  std::vector<double> alpha(fit::alpha_feature_names().size(), 0.0);
  alpha[0] = 400;  // intercept
  alpha[1] = 1;    // per prompt token
  return {{"beta", fitted(fit::beta_feature_names(), beta)},
          {"alpha", {{"api_to_core", fitted(fit::alpha_feature_names(), alpha)}}},
          {"hops",
           {{"first_response", {{"mean_us", 10}}},
            {"departure", {{"mean_us", 20}}},
            {"step_gap", {{"mean_us", 30}}},
            {"client_first_chunk", {{"mean_us", 40}}},
            {"client_last_chunk", {{"mean_us", 50}}}}}};
}

TEST(SimModel, ReadsEveryPart) {
  auto m = perf_model_from_json(full_coeffs(), "c.json");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_TRUE(m->notes.empty());
  EXPECT_EQ(m->first_response_us, 10);
  EXPECT_EQ(m->departure_us, 20);
  EXPECT_EQ(m->step_gap_us, 30);
  EXPECT_EQ(m->client_first_chunk_us, 40);
  EXPECT_EQ(m->client_last_chunk_us, 50);

  BatchSummary batch;
  batch.prefill_tokens = 100;
  batch.decode_tokens = 3;
  batch.num_prefill_reqs = 1;
  batch.num_decode_reqs = 3;
  EXPECT_DOUBLE_EQ(m->step_us(batch), 300 + 2 * 100 + 50 * 3);
  EXPECT_DOUBLE_EQ(m->api_us(64, 5, 7, 0.5), 400 + 64);
}

TEST(SimModel, FirstChunkHopPerRequestWhenFitted) {
  auto c = full_coeffs();
  EXPECT_FALSE(perf_model_from_json(c, "c.json")->client_first_chunk);  // a mean only
  EXPECT_EQ(perf_model_from_json(c, "c.json")->first_chunk_client_us(100, 100), 40);
  c["hops"]["client_first_chunk"]["features"] = fit::client_hop_feature_names();
  c["hops"]["client_first_chunk"]["coefficients"] = {600.0, 2.0, 3.0};
  auto m = perf_model_from_json(c, "c.json");
  ASSERT_TRUE(m) << m.error().message;
  ASSERT_TRUE(m->client_first_chunk);
  EXPECT_DOUBLE_EQ(m->first_chunk_client_us(10, 100), 600 + 20 + 300);
  EXPECT_EQ(m->client_first_chunk_us, 40);  // still the mean, for later chunks

  c["hops"]["client_first_chunk"]["features"] = {"intercept", "prompt_tokens", "x"};
  m = perf_model_from_json(c, "c.json");
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("hops.client_first_chunk"), std::string::npos)
      << m.error().message;
}

TEST(SimModel, StepTimeIsAtLeastOneMicrosecond) {
  auto c = full_coeffs();
  c["beta"]["coefficients"] = std::vector<double>(fit::beta_feature_names().size(), 0.0);
  auto m = perf_model_from_json(c, "c.json");
  ASSERT_TRUE(m);
  EXPECT_DOUBLE_EQ(m->step_us(BatchSummary{}), 1.0);
}

TEST(SimModel, OtherFeaturesAreRefusedByName) {
  auto c = full_coeffs();
  c["beta"] = fitted({"intercept", "prefill_tokens"}, {1, 2});
  auto m = perf_model_from_json(c, "c.json");
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("c.json: beta has features [intercept, prefill_tokens]"),
            std::string::npos)
      << m.error().message;
  EXPECT_NE(m.error().message.find("refit"), std::string::npos);
}

TEST(SimModel, BetaIsRequired) {
  auto c = full_coeffs();
  c.erase("beta");
  auto m = perf_model_from_json(c, "c.json");
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("beta is missing"), std::string::npos) << m.error().message;

  c = full_coeffs();
  c["beta"] = {{"error", "no rows to fit"}};
  m = perf_model_from_json(c, "c.json");
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("not fitted"), std::string::npos) << m.error().message;
}

TEST(SimModel, MissingAlphaAndHopsAreNamedAndZero) {
  nlohmann::json c = {{"beta", full_coeffs()["beta"]}};
  auto m = perf_model_from_json(c, "c.json");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_FALSE(m->api_to_core);
  EXPECT_EQ(m->api_us(100, 0, 0, 0), 0);
  EXPECT_EQ(m->client_first_chunk_us, 0);
  ASSERT_EQ(m->notes.size(), 6u);  // alpha.api_to_core and five hops
  EXPECT_NE(m->notes[0].find("alpha.api_to_core"), std::string::npos);
  EXPECT_NE(m->notes[5].find("hops.client_last_chunk"), std::string::npos);
}

TEST(SimModel, UnreadableFileIsAnError) {
  auto m = load_perf_model("/nonexistent/coeffs.json");
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("cannot read --coeffs /nonexistent/coeffs.json"),
            std::string::npos);
}

}  // namespace
}  // namespace waypoint::sim
