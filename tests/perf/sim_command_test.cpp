// The real `waypoint sim` binary: fitted on the fixture trace by the real
// `waypoint fit`, run on the tiny fixture model; its result JSON, --compare,
// determinism and its errors.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace waypoint {
namespace {

namespace fs = std::filesystem;

const std::string kBinary = WAYPOINT_BINARY;
const std::string kTrace = std::string(WAYPOINT_TEST_DATA_DIR) + "/fit_trace.jsonl";
const std::string kModel = std::string(WAYPOINT_FIXTURE_DIR) + "/tiny-f32";
const std::string kWorkload =
    " --dataset-name random --random-input-len 32 --random-output-len 8 --num-prompts 20"
    " --request-rate 50 --seed 1";

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class SimCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("waypoint-sim-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  int run(const std::string& args) {
    const std::string cmd = "'" + kBinary + "' " + args + " > '" + (dir_ / "stdout").string() +
                            "' 2> '" + (dir_ / "stderr").string() + "'";
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string out() { return slurp(dir_ / "stdout"); }
  std::string err() { return slurp(dir_ / "stderr"); }

  // coeffs.json from the real `waypoint fit` on the fixture trace.
  std::string fitted_coeffs() {
    const fs::path fit_dir = dir_ / "fit";
    EXPECT_EQ(run("fit '" + kTrace + "' --out-dir '" + fit_dir.string() + "' --warmup-steps 2"), 0)
        << err();
    return (fit_dir / "coeffs.json").string();
  }
  std::string sim(const std::string& coeffs, const std::string& workload = kWorkload) {
    return "sim --coeffs '" + coeffs + "' --model '" + kModel + "'" + workload;
  }

  fs::path dir_;
};

TEST_F(SimCommand, PredictsBenchsFiguresFromAFit) {
  const std::string coeffs = fitted_coeffs();
  const fs::path result = dir_ / "sim.json";
  ASSERT_EQ(run(sim(coeffs) + " --result-json '" + result.string() + "'"), 0) << err();
  EXPECT_NE(out().find("Mean TTFT (ms):"), std::string::npos) << out();
  EXPECT_NE(out().find("Simulated: "), std::string::npos) << out();
  // The fixture trace has no bench results: the client hops are named as 0.
  EXPECT_NE(err().find("hops.client_first_chunk; taken as 0"), std::string::npos) << err();

  const auto r = nlohmann::json::parse(slurp(result));
  EXPECT_EQ(r["backend"], "waypoint-sim");
  EXPECT_EQ(r["completed"], 20);
  EXPECT_EQ(r["failed"], 0);
  EXPECT_EQ(r["total_output_tokens"], 20 * 8);
  EXPECT_GT(r["mean_ttft_ms"].get<double>(), 0.0);
  EXPECT_GT(r["mean_e2el_ms"].get<double>(), r["mean_ttft_ms"].get<double>());
  EXPECT_GT(r["simulation"]["steps"].get<int>(), 8);
  EXPECT_EQ(r["input_lens"].size(), 20u);
}

TEST_F(SimCommand, IsDeterministicAndComparesWithAResult) {
  const std::string coeffs = fitted_coeffs();
  const fs::path first = dir_ / "first.json";
  ASSERT_EQ(run(sim(coeffs) + " --result-json '" + first.string() + "'"), 0) << err();
  const fs::path second = dir_ / "second.json";
  ASSERT_EQ(run(sim(coeffs) + " --compare '" + first.string() + "' --result-json '" +
                second.string() + "'"),
            0)
      << err();
  const auto a = nlohmann::json::parse(slurp(first));
  const auto b = nlohmann::json::parse(slurp(second));
  for (const char* key :
       {"mean_ttft_ms", "p90_ttft_ms", "mean_tpot_ms", "mean_e2el_ms", "p99_e2el_ms", "duration"}) {
    EXPECT_EQ(a[key], b[key]) << key;
  }
  // Compared with itself, every error is zero.
  EXPECT_NE(out().find("Predicted against"), std::string::npos) << out();
  EXPECT_NE(out().find("Mean E2EL (ms)"), std::string::npos);
  const auto& figures = b["comparison"]["figures"];
  ASSERT_TRUE(figures.contains("mean_e2el_ms"));
  for (const auto& [key, row] : figures.items()) {
    EXPECT_DOUBLE_EQ(row["error_percent"].get<double>(), 0.0) << key;
  }
}

TEST_F(SimCommand, SchedulerFlagsTakeServesMeaning) {
  const std::string coeffs = fitted_coeffs();
  // All at once, one sequence at a time: every request waits for the ones
  // before it; with serve's default of 256 none waits.
  const std::string burst =
      " --dataset-name random --random-input-len 32 --random-output-len 8 --num-prompts 20"
      " --request-rate inf";
  const fs::path one = dir_ / "one.json";
  ASSERT_EQ(run(sim(coeffs, burst) + " --max-num-seqs 1 --result-json '" + one.string() + "'"), 0)
      << err();
  const fs::path many = dir_ / "many.json";
  ASSERT_EQ(run(sim(coeffs, burst) + " --result-json '" + many.string() + "'"), 0) << err();
  const auto r1 = nlohmann::json::parse(slurp(one));
  const auto rn = nlohmann::json::parse(slurp(many));
  EXPECT_GT(r1["simulation"]["mean_queue_wait_ms"].get<double>(),
            rn["simulation"]["mean_queue_wait_ms"].get<double>());
}

TEST_F(SimCommand, BadInputIsAClearError) {
  EXPECT_EQ(run("sim" + kWorkload), 2);
  EXPECT_NE(err().find("--coeffs is required"), std::string::npos) << err();
  EXPECT_EQ(run("sim --coeffs x.json --port 9000"), 2);
  EXPECT_NE(err().find("unrecognised option '--port'"), std::string::npos) << err();
  EXPECT_EQ(run("sim --coeffs x.json --request-rate fast"), 2);
  EXPECT_NE(err().find("--request-rate 'fast' is not a number"), std::string::npos) << err();
  EXPECT_EQ(run("sim --coeffs x.json --scheduling-policy lottery"), 2);
  EXPECT_NE(err().find("--scheduling-policy"), std::string::npos) << err();

  EXPECT_EQ(run("sim --coeffs '" + (dir_ / "missing.json").string() + "' --model '" + kModel + "'"),
            1);
  EXPECT_NE(err().find("cannot read --coeffs"), std::string::npos) << err();

  const fs::path old = dir_ / "old.json";
  std::ofstream(old) << R"({"beta": {"features": ["intercept"], "coefficients": [100]}})";
  EXPECT_EQ(run("sim --coeffs '" + old.string() + "' --model '" + kModel + "'"), 1);
  EXPECT_NE(err().find("refit with this build"), std::string::npos) << err();
}

}  // namespace
}  // namespace waypoint
