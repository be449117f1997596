// The real `waypoint fit` binary on data/fit_trace.jsonl: exit codes, the
// files it writes (coeffs.json's keys, the CSV headers, the PNG signature)
// and the report on stdout.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class FitCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("waypoint-fit-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `waypoint fit ARGS`, stdout and stderr to files; the exit status.
  int fit(const std::string& args) {
    const std::string cmd = "'" + kBinary + "' fit " + args + " > '" + (dir_ / "stdout").string() +
                            "' 2> '" + (dir_ / "stderr").string() + "'";
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string out() { return slurp(dir_ / "stdout"); }
  std::string err() { return slurp(dir_ / "stderr"); }

  fs::path dir_;
};

TEST_F(FitCommand, WritesEveryFile) {
  const fs::path out_dir = dir_ / "out";
  ASSERT_EQ(fit("'" + kTrace + "' --out-dir '" + out_dir.string() + "' --warmup-steps 2"), 0)
      << err();

  const auto coeffs = nlohmann::json::parse(slurp(out_dir / "coeffs.json"));
  EXPECT_EQ(coeffs["malformed_lines"], 2);
  EXPECT_EQ(coeffs["unit"], "microseconds");
  const auto& beta = coeffs["beta"];
  EXPECT_EQ(beta["features"],
            (nlohmann::json{"intercept", "prefill_tokens", "decode_tokens", "decode_ctx_tokens_sum",
                            "prefill_ctx_tokens_sum", "batch_size", "num_prefill_reqs",
                            "prefill_attention_pairs"}));
  EXPECT_EQ(beta["coefficients"].size(), 8u);
  for (const auto& c : beta["coefficients"]) EXPECT_GE(c.get<double>(), 0.0);
  EXPECT_EQ(beta["rows"]["total"], 6);
  EXPECT_EQ(beta["rows"]["used"], 3);
  EXPECT_EQ(beta["rows"]["flagged"]["warmup"], 2);
  EXPECT_EQ(beta["rows"]["flagged"]["preempted"], 1);
  EXPECT_TRUE(beta["holdout"].contains("r2"));
  EXPECT_TRUE(beta["holdout"].contains("mape_percent"));
  for (const char* key : {"queue_wait", "api_to_core"}) {
    ASSERT_TRUE(coeffs["alpha"].contains(key)) << key;
    EXPECT_EQ(coeffs["alpha"][key]["features"].size(), 5u) << key;
  }
  EXPECT_EQ(coeffs["alpha"]["queue_wait"]["rows"]["total"], 4);
  EXPECT_EQ(coeffs["alpha"]["queue_wait"]["rows"]["used"], 2);
  EXPECT_EQ(coeffs["alpha"]["api_to_core"]["rows"]["total"], 3);

  EXPECT_EQ(slurp(out_dir / "beta.csv").rfind("step_duration_us,num_prefill,", 0), 0u);
  EXPECT_EQ(slurp(out_dir / "alpha.csv").rfind("alpha_latency_us,prompt_tokens,", 0), 0u);
  for (const char* png : {"beta_residuals.png", "alpha_queue_wait_residuals.png",
                          "alpha_api_to_core_residuals.png"}) {
    const std::string bytes = slurp(out_dir / png);
    ASSERT_GE(bytes.size(), 8u) << png;
    EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << png;
  }

  EXPECT_NE(out().find("holdout:"), std::string::npos) << out();
  EXPECT_NE(out().find("physical floor"), std::string::npos) << out();
  EXPECT_NE(err().find("warning: line 10 skipped"), std::string::npos) << err();
}

// --model and the device's peaks put the physical floor beside the fit. The
// model's config.json is all the floor reads: the small shape of
// fit_floor_test, 1272 weights read per step.
TEST_F(FitCommand, PhysicalFloorFromTheModelAndTheDevice) {
  fs::create_directories(dir_ / "model");
  std::ofstream(dir_ / "model" / "config.json")
      << R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 10, "hidden_size": 8,
             "intermediate_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
             "num_key_value_heads": 1, "head_dim": 4, "max_position_embeddings": 64})";
  const std::string common =
      "'" + kTrace + "' --warmup-steps 2 --model '" + (dir_ / "model").string() + "' --out-dir ";

  ASSERT_EQ(fit(common + "'" + (dir_ / "cpu").string() + "' --memory-bandwidth-gbs 0.001"), 0)
      << err();
  auto floor = nlohmann::json::parse(slurp(dir_ / "cpu" / "coeffs.json"))["beta"]["physical_floor"];
  EXPECT_EQ(floor["weight_bytes"], 1272 * 4) << "f32 off a GPU";
  EXPECT_EQ(floor["memory_bandwidth_gb_s"], 0.001);
  EXPECT_EQ(floor["peak_tflops"], 0);
  EXPECT_GT(floor["holdout_mean_floor_us"].get<double>(), 1272 * 4 / 1e3 - 1e-9);
  EXPECT_NE(out().find("physical floor: "), std::string::npos) << out();
  EXPECT_NE(out().find("bytes only"), std::string::npos) << out();

  ASSERT_EQ(fit(common + "'" + (dir_ / "gpu").string() + "' --hw H100"), 0) << err();
  floor = nlohmann::json::parse(slurp(dir_ / "gpu" / "coeffs.json"))["beta"]["physical_floor"];
  EXPECT_EQ(floor["weight_bytes"], 1272 * 2) << "bf16 on a GPU";
  EXPECT_EQ(floor["memory_bandwidth_gb_s"], 3350);
  EXPECT_EQ(floor["peak_tflops"], 989);

  // Without the device's bandwidth there is no floor, and the report says what is missing.
  ASSERT_EQ(fit(common + "'" + (dir_ / "none").string() + "'"), 0) << err();
  EXPECT_FALSE(nlohmann::json::parse(slurp(dir_ / "none" / "coeffs.json"))["beta"].contains(
      "physical_floor"));
  EXPECT_NE(out().find("not derived (give --model, and --hw"), std::string::npos) << out();

  EXPECT_EQ(fit(common + "x --memory-bandwidth-gbs -1"), 2);
  EXPECT_EQ(fit("'" + kTrace + "' --out-dir x --memory-bandwidth-gbs 100"), 2);  // no --model
  EXPECT_NE(err().find("need --model"), std::string::npos) << err();
  EXPECT_EQ(fit("'" + kTrace + "' --out-dir x --model '" + (dir_ / "nope").string() + "'"), 1);
  EXPECT_NE(err().find("--model"), std::string::npos) << err();
}

TEST_F(FitCommand, BadFlagIsOneLineAndExit2) {
  EXPECT_EQ(fit("--no-such-flag"), 2);
  const std::string e = err();
  EXPECT_NE(e.find("no-such-flag"), std::string::npos) << e;
  EXPECT_EQ(std::count(e.begin(), e.end(), '\n'), 1) << e;
  EXPECT_EQ(fit("'" + kTrace + "' --out-dir x --holdout 1.5"), 2);
  EXPECT_EQ(fit("'" + kTrace + "'"), 2);  // no --out-dir
}

TEST_F(FitCommand, MissingInputIsExit1) {
  EXPECT_EQ(fit("'" + (dir_ / "nope.jsonl").string() + "' --out-dir '" + dir_.string() + "'"), 1);
  EXPECT_NE(err().find("cannot read"), std::string::npos) << err();
}

TEST_F(FitCommand, Help) {
  EXPECT_EQ(fit("--help"), 0);
  EXPECT_NE(out().find("Usage: waypoint fit"), std::string::npos);
}

}  // namespace
}  // namespace waypoint
