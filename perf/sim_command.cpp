#include "perf/sim_command.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "base/command_line.hpp"
#include "base/log.hpp"
#include "launcher/serve_plan.hpp"
#include "modelgen/demo_model.hpp"
#include "perf/bench_metrics.hpp"
#include "perf/bench_report.hpp"
#include "perf/bench_workload.hpp"
#include "perf/progress_bar.hpp"
#include "perf/sim_compare.hpp"
#include "perf/sim_engine.hpp"
#include "perf/sim_model.hpp"
#include "tokenizer/tokenizer.hpp"
#include "worker/model_config.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace waypoint::cli {

namespace {

// The serve flags that shape the scheduler, and so the simulation: passed
// through to serve's own parser so they mean exactly what they mean there.
const std::set<std::string>& scheduler_flags() {
  static const std::set<std::string> kFlags = {"model",
                                               "max-model-len",
                                               "max-num-seqs",
                                               "max-num-batched-tokens",
                                               "long-prefill-token-threshold",
                                               "block-size",
                                               "num-gpu-blocks-override",
                                               "kv-cache-memory-bytes",
                                               "enable-prefix-caching",
                                               "no-enable-prefix-caching",
                                               "scheduling-policy",
                                               "tensor-parallel-size"};
  return kFlags;
}

// Boost does not give an unregistered option the token after it, so serve's
// valued flags are joined to their value ("--model DIR" -> "--model=DIR")
// before parsing; serve's parser takes either spelling.
std::vector<std::string> join_serve_values(const std::vector<std::string>& args) {
  std::vector<std::string> joined;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool valued = a.rfind("--", 0) == 0 && a.find('=') == std::string::npos &&
                        scheduler_flags().count(a.substr(2)) &&
                        a.find("prefix-caching") == std::string::npos;
    if (valued && i + 1 < args.size()) {
      joined.push_back(a + "=" + args[++i]);
    } else {
      joined.push_back(a);
    }
  }
  return joined;
}

struct SimOptions {
  std::string coeffs;
  std::vector<std::string> compare;
  ServeOptions serve;  // serve's scheduler flags, parsed by serve's parser
  bench::WorkloadOptions workload;
};

nlohmann::json read_json(const std::string& path, const std::string& flag) {
  std::ifstream in(path);
  if (!in) throw RunError{"cannot read " + flag + " " + path};
  auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) throw RunError{path + ": not a JSON object"};
  return j;
}

int run_simulation(const SimOptions& o, std::ostream& out, std::ostream& err) {
  const bench::WorkloadOptions& w = o.workload;
  const sim::PerfModel model = must(sim::load_perf_model(o.coeffs));
  for (const std::string& note : model.notes) err << "waypoint sim: note: " << note << "\n";
  // Read before simulating, so a bad file fails fast.
  std::vector<nlohmann::json> measured;
  for (const std::string& path : o.compare) measured.push_back(read_json(path, "--compare"));

  ServeOptions serve = o.serve;
  if (serve.model.empty()) serve.model = must(demo_model(Logger("sim")));
  const ModelConfig config = must(load_model_config(serve.model));
  const SchedulerConfig scheduler = must(scheduler_config(serve, config));

  std::optional<Tokenizer> tokenizer;
  const auto tokenize = [&](const std::string& text) -> Result<std::vector<int32_t>> {
    if (!tokenizer) {
      auto t = Tokenizer::load(fs::path(serve.model) / "tokenizer.json");
      if (!t) return t.error();
      tokenizer = std::move(*t);
    }
    // As the server's /tokenize and completions count a prompt.
    return tokenizer->encode(text, /*add_special_tokens=*/true);
  };
  bench::WorkloadSource source;
  source.vocab_size = [&]() -> Result<int32_t> { return config.vocab_size; };
  source.count_tokens = [&](const std::string& text) -> Result<int64_t> {
    auto ids = tokenize(text);
    if (!ids) return ids.error();
    return static_cast<int64_t>(ids->size());
  };
  bench::Workload workload = must(bench::draw_workload(w, source, err, "waypoint sim"));
  for (bench::BenchRequest& r : workload.requests) {
    if (r.prompt_token_ids.empty()) r.prompt_token_ids = must(tokenize(r.prompt_text));
    // sharegpt without --ignore-eos may stop early on a real model; the
    // simulator generates every asked-for token (see docs/perf-model.md).
  }

  out << "Model: " << serve.model << "; coefficients: " << o.coeffs << "\n";
  bench::print_traffic(out, w);

  sim::SimConfig sim_config;
  sim_config.scheduler = scheduler;
  sim_config.max_concurrency = w.max_concurrency;
  sim_config.vocab_size = config.vocab_size;
  sim_config.seed = w.seed;
  const auto started = std::chrono::steady_clock::now();
  ProgressBar progress(err, "waypoint sim", workload.requests.size(),
                       ProgressBar::is_terminal(err));
  const sim::SimOutcome outcome =
      sim::simulate(workload.requests, workload.offsets, model, sim_config,
                    [&](std::size_t done) { progress.update(done, 0); });
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const bench::Summary summary =
      bench::summarize(outcome.records, outcome.duration_s, w.slo, w.percentiles);
  progress.finish(outcome.records.size(), static_cast<std::size_t>(summary.failed), wall);

  const bench::RunInfo info = bench::run_info(w, fs::path(serve.model).filename().string(),
                                              "simulated", workload.requests.size());
  out << bench::summary_table(info, summary);
  {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "Simulated: %llu steps, %lld preemptions, %.2f s busy of %.2f s; mean API "
                  "%.3f ms, mean queue wait %.3f ms\n",
                  static_cast<unsigned long long>(outcome.stats.steps),
                  static_cast<long long>(outcome.stats.preemptions), outcome.stats.busy_s,
                  outcome.duration_s, outcome.stats.mean_api_ms, outcome.stats.mean_queue_wait_ms);
    out << buf;
  }

  nlohmann::json result = bench::result_json(info, summary, outcome.records);
  result["backend"] = "waypoint-sim";
  result["coeffs"] = o.coeffs;
  result["simulation"] = {{"steps", outcome.stats.steps},
                          {"preemptions", outcome.stats.preemptions},
                          {"busy_s", outcome.stats.busy_s},
                          {"mean_api_ms", outcome.stats.mean_api_ms},
                          {"mean_queue_wait_ms", outcome.stats.mean_queue_wait_ms}};
  if (!measured.empty()) {
    const sim::Comparison c = sim::compare(result, measured);
    out << "Predicted against";
    for (const std::string& path : o.compare) out << " " << path;
    out << ":\n" << c.table;
    result["comparison"] = {{"measured", o.compare}, {"figures", c.json}};
  }
  out << std::flush;
  if (!w.result_json.empty()) {
    std::ofstream file(w.result_json, std::ios::out | std::ios::trunc);
    if (!file) throw RunError{"cannot write --result-json " + w.result_json};
    file << result.dump(2) << "\n";
    if (!file) throw RunError{"cannot write --result-json " + w.result_json};
  }
  if (summary.completed == 0) {
    for (const auto& r : outcome.records) {
      if (!r.error.empty()) throw RunError{"no request could run; the first: " + r.error};
    }
  }
  return kExitOk;
}

int run_sim(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  SimOptions o;
  bench::WorkloadFlags flags;
  CommandLine cl("sim",
                 "Usage: waypoint sim --coeffs coeffs.json [--compare RESULT.json ...]\n"
                 "                    [bench's workload flags] [serve's scheduler flags]\n\n"
                 "Predicts what `waypoint bench` would measure for a workload: the real\n"
                 "scheduler and KV block pool run on a virtual clock, each step priced by\n"
                 "beta, each request's way to the core by alpha. Prints bench's summary.\n\n",
                 "\nserve's flags that shape the scheduler are accepted with serve's meaning:\n"
                 "  --model DIR (default: the demo model), --max-model-len, --max-num-seqs,\n"
                 "  --max-num-batched-tokens, --long-prefill-token-threshold, --block-size,\n"
                 "  --num-gpu-blocks-override, --kv-cache-memory-bytes,\n"
                 "  --[no-]enable-prefix-caching, --scheduling-policy, --tensor-parallel-size\n");
  // clang-format off
  cl.options().add_options()
      ("coeffs", po::value(&o.coeffs), "the coeffs.json `waypoint fit` wrote (required)")
      ("compare", po::value(&o.compare)->multitoken(),
       "`waypoint bench --result-json` files of this workload: print predicted against their mean");
  // clang-format on
  bench::add_workload_options(cl.options(), o.workload, flags);
  cl.allow_unregistered();
  if (auto exit = cl.parse_or_exit(join_serve_values(args), out, err)) return *exit;
  const auto usage = [&](const std::string& message) { return cl.usage_error(err, message); };
  // Everything unregistered must be one of serve's scheduler flags.
  std::vector<std::string> serve_args;
  for (const po::option& opt : cl.unregistered()) {
    if (!scheduler_flags().count(opt.string_key)) {
      return usage("unrecognised option '" + opt.original_tokens.front() + "'");
    }
    for (const std::string& token : opt.original_tokens) serve_args.push_back(token);
  }
  if (o.coeffs.empty()) return usage("--coeffs is required (the coeffs.json of `waypoint fit`)");
  if (auto valid = bench::finish_workload_options(cl.vm(), flags, o.workload); !valid) {
    return usage(valid.error().message);
  }
  auto serve = parse_serve_options(serve_args);
  if (!serve) return usage(serve.error().message);
  o.serve = serve->options;
  try {
    return run_simulation(o, out, err);
  } catch (const RunError& e) {
    err << "waypoint sim: " << e.message << "\n";
    return kExitFailure;
  }
}

}  // namespace

Subcommand sim_subcommand() {
  return {"sim", "predict bench's figures for a workload: the real scheduler on a virtual clock",
          run_sim};
}

}  // namespace waypoint::cli
