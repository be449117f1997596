#pragma once
// The workload flags `waypoint bench` and `waypoint sim` share, and how a
// workload is drawn from them: the same flags and seed give both commands
// the same prompts, lengths and arrival times, so a prediction and a
// measurement are of one workload.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "base/result.hpp"
#include "perf/bench_dataset.hpp"
#include "perf/bench_metrics.hpp"
#include "perf/bench_report.hpp"

namespace waypoint::bench {

struct WorkloadOptions {
  std::string dataset_name = "random";
  std::string dataset_path;
  std::size_t num_prompts = 1000;
  bool num_prompts_given = false;
  uint64_t seed = 0;
  double request_rate = 0;  // +inf: all at once
  double burstiness = 1.0;
  std::optional<std::size_t> max_concurrency;
  RandomSpec random;
  std::optional<int64_t> sharegpt_output_len;
  bool ignore_eos = false;
  Slo slo;
  bool goodput = false;
  std::vector<double> percentiles{90, 99};
  std::string result_json;
};

// Where the flags land before they are checked.
struct WorkloadFlags {
  std::string request_rate = "inf";
  std::string percentiles = "90,99";
  int64_t num_prompts = 1000;
  int64_t max_concurrency = 0;
  int64_t sharegpt_output_len = 0;
  std::vector<std::string> goodput;
};

void add_workload_options(boost::program_options::options_description& opts, WorkloadOptions& o,
                          WorkloadFlags& flags);

// Checks and converts the parsed flags; the error is one line naming the flag.
Result<void> finish_workload_options(const boost::program_options::variables_map& vm,
                                     const WorkloadFlags& flags, WorkloadOptions& o);

// "inf" or a number.
std::optional<double> parse_rate(const std::string& text);

// What drawing a workload needs from its surroundings: bench asks the
// server, sim reads the model directory.
struct WorkloadSource {
  std::function<Result<int32_t>()> vocab_size;
  TokenCounter count_tokens;
};

// The requests, then their send offsets (the trace's own, else drawn from
// the arrival process), from one generator seeded with --seed, in that
// order. Warnings (a short ShareGPT file) go to `err`.
struct Workload {
  std::vector<BenchRequest> requests;
  std::vector<double> offsets;
};
Result<Workload> draw_workload(const WorkloadOptions& o, const WorkloadSource& source,
                               std::ostream& err, const std::string& tool);

// The lines before the summary: the traffic and the concurrency cap.
void print_traffic(std::ostream& out, const WorkloadOptions& o);

// The summary's and result JSON's description of the run.
RunInfo run_info(const WorkloadOptions& o, const std::string& model, const std::string& endpoint,
                 std::size_t num_requests);

}  // namespace waypoint::bench
