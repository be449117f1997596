#include "perf/bench_command.hpp"

#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "base/command_line.hpp"
#include "perf/bench_client.hpp"
#include "perf/bench_dataset.hpp"
#include "perf/bench_metrics.hpp"
#include "perf/bench_report.hpp"
#include "perf/bench_runner.hpp"
#include "perf/bench_workload.hpp"
#include "perf/progress_bar.hpp"

namespace po = boost::program_options;

namespace waypoint::cli {

namespace {

using bench::BenchRequest;

struct BenchOptions {
  std::string base_url = "http://127.0.0.1:8000";
  std::string endpoint = "/v1/completions";
  std::string model;
  std::string api_key;
  bench::WorkloadOptions workload;
};

int run_benchmark(const BenchOptions& o, std::ostream& out, std::ostream& err) {
  const bench::WorkloadOptions& w = o.workload;
  const bench::BenchClient client(must(bench::parse_base_url(o.base_url)), o.api_key);
  const std::string model = o.model.empty() ? must(client.first_model()) : o.model;
  bench::WorkloadSource source;
  source.vocab_size = [&] { return client.vocab_size(model); };
  source.count_tokens = [&](const std::string& text) { return client.count_tokens(model, text); };
  bench::Workload workload = must(bench::draw_workload(w, source, err, "waypoint bench"));
  std::vector<BenchRequest>& requests = workload.requests;

  const bool chat = o.endpoint.find("chat") != std::string::npos;
  if (chat) {
    // The chat API takes text only: token prompts go as their text.
    for (BenchRequest& r : requests) {
      if (r.prompt_token_ids.empty()) continue;
      r.prompt_text = must(client.detokenize(model, r.prompt_token_ids));
      r.prompt_token_ids.clear();
    }
  }
  bench::print_traffic(out, w);

  bench::BenchClient::Options send_options;
  send_options.endpoint = o.endpoint;
  send_options.chat = chat;
  send_options.model = model;
  // Random and replayed prompts must produce exactly the lengths asked for.
  send_options.ignore_eos = w.ignore_eos || w.dataset_name != "sharegpt";

  ProgressBar progress(err, "waypoint bench", requests.size(), ProgressBar::is_terminal(err));
  const bench::RunOutcome outcome = bench::run_open_loop(
      requests, workload.offsets, w.max_concurrency,
      [&](const BenchRequest& r) { return client.stream(send_options, r); },
      [&](std::size_t done, std::size_t failed) { progress.update(done, failed); });
  const bench::Summary summary =
      bench::summarize(outcome.records, outcome.duration_s, w.slo, w.percentiles);
  progress.finish(outcome.records.size(), static_cast<std::size_t>(summary.failed),
                  outcome.duration_s);

  const bench::RunInfo info = bench::run_info(w, model, o.endpoint, requests.size());
  out << bench::summary_table(info, summary) << std::flush;

  if (!w.result_json.empty()) {
    std::ofstream file(w.result_json, std::ios::out | std::ios::trunc);
    if (!file) throw RunError{"cannot write --result-json " + w.result_json};
    file << bench::result_json(info, summary, outcome.records).dump(2) << "\n";
    if (!file) throw RunError{"cannot write --result-json " + w.result_json};
  }
  if (summary.completed == 0) {
    for (const auto& r : outcome.records) {
      if (!r.error.empty()) throw RunError{"every request failed; the first: " + r.error};
    }
    throw RunError{"every request failed"};
  }
  return kExitOk;
}

int run_bench(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  BenchOptions o;
  bench::WorkloadFlags flags;
  CommandLine cl("bench",
                 "Usage: waypoint bench [--base-url URL] [--dataset-name random|sharegpt|trace]\n"
                 "                      [--num-prompts N] [--request-rate R] [--burstiness B]\n"
                 "                      [--max-concurrency N] [--result-json FILE] ...\n\n"
                 "Sends an open-loop workload to a running server's OpenAI API, streamed, and\n"
                 "reports TTFT, TPOT, ITL and E2E latency and throughput with vLLM's\n"
                 "benchmark_serving definitions.\n\n");
  // clang-format off
  cl.options().add_options()
      ("base-url", po::value(&o.base_url)->default_value(o.base_url), "the server, http://HOST:PORT")
      ("endpoint", po::value(&o.endpoint)->default_value(o.endpoint),
       "/v1/completions, or /v1/chat/completions (prompts sent as text)")
      ("model", po::value(&o.model), "the model name to ask for; default: the first of /v1/models")
      ("api-key", po::value(&o.api_key), "a bearer token, for a server started with --api-key");
  // clang-format on
  bench::add_workload_options(cl.options(), o.workload, flags);
  if (auto exit = cl.parse_or_exit(args, out, err)) return *exit;
  const auto usage = [&](const std::string& message) { return cl.usage_error(err, message); };

  if (auto valid = bench::finish_workload_options(cl.vm(), flags, o.workload); !valid) {
    return usage(valid.error().message);
  }
  if (o.endpoint.empty() || o.endpoint.front() != '/') {
    return usage("--endpoint '" + o.endpoint + "' must start with /");
  }
  if (auto address = bench::parse_base_url(o.base_url); !address) {
    return usage(address.error().message);
  }

  try {
    return run_benchmark(o, out, err);
  } catch (const RunError& e) {
    err << "waypoint bench: " << e.message << "\n";
    return kExitFailure;
  }
}

}  // namespace

Subcommand bench_subcommand() {
  return {"bench", "benchmark a running server's API (TTFT, TPOT, ITL, throughput)", run_bench};
}

}  // namespace waypoint::cli
