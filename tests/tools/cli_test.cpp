#include <sstream>

#include <gtest/gtest.h>

#include "tools/cli.hpp"
#include "worker/device_selection.hpp"

namespace waypoint::cli {
namespace {

struct Ran {
  int code;
  std::string out;
  std::string err;
};

Ran run_cli(std::vector<std::string> args) {
  std::ostringstream out, err;
  int code = run(args, out, err);
  return {code, out.str(), err.str()};
}

TEST(Cli, HelpPrintsUsageAndExitsZero) {
  auto r = run_cli({"--help"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_NE(r.out.find("Usage: waypoint"), std::string::npos);
  EXPECT_NE(r.out.find("--version"), std::string::npos);
}

TEST(Cli, NoCommandIsAUsageError) {
  auto r = run_cli({});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_NE(r.err.find("Usage: waypoint"), std::string::npos);
}

TEST(Cli, UnknownCommandNamesIt) {
  auto r = run_cli({"frobnicate"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_NE(r.err.find("unknown command 'frobnicate'"), std::string::npos);
}

TEST(Cli, UnknownOptionIsOneLineWithExitTwo) {
  auto r = run_cli({"--no-such-flag"});
  EXPECT_EQ(r.code, kExitUsage);
  EXPECT_NE(r.err.find("no-such-flag"), std::string::npos);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
}

TEST(Cli, VersionPrintsVersion) {
  auto r = run_cli({"--version"});
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.out.rfind("waypoint ", 0), 0u);
}

// --device cuda where CUDA cannot run is a usage error (exit 2) naming the flag,
// found before any model is read (the model path here does not exist).
TEST(Cli, DeviceCudaWithoutADeviceIsAUsageError) {
  if (probe_cuda().device_count > 0) GTEST_SKIP() << "this machine has a CUDA device";
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"serve", "--device", "cuda", "--model", "/nonexistent"},
           {"generate", "--device", "cuda", "--model", "/nonexistent", "--prompt-token-ids",
            "1"}}) {
    auto r = run_cli(args);
    EXPECT_EQ(r.code, kExitUsage) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find("--device cuda"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

}  // namespace
}  // namespace waypoint::cli
