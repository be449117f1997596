#include "perf/fit_command.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "base/command_line.hpp"
#include "perf/fit_dataset.hpp"
#include "perf/fit_floor.hpp"
#include "perf/fit_hops.hpp"
#include "perf/fit_report.hpp"
#include "perf/png_writer.hpp"
#include "perf/residual_plot.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace waypoint::cli {

namespace {

struct FitOptions {
  std::string input;
  std::string out_dir;
  double holdout = 0.2;
  std::int64_t warmup_steps = 10;
  bool include_flagged = false;
  std::vector<std::string> bench_results;
  fit::ConfigLabels labels;
  // The physical floor: the served model's shape and the device's peaks.
  std::string model_dir;
  double memory_bandwidth_gb_s = 0;  // 0: from --hw when it names a known device
  double peak_tflops = 0;
  double weight_bytes = 0;  // per weight and KV element; 0: 2 on a known GPU, else 4
};

// What the floor is computed from, once the flags are resolved.
struct FloorInputs {
  fit::ModelCost cost;
  fit::DevicePeaks peaks;
  double bytes_per_element = 0;
};

// Warnings about malformed lines: the first few in full, then a count, so a
// corrupt file does not flood the terminal.
constexpr std::size_t kMaxWarnings = 20;

struct Target {
  fit::TargetData data;
  fit::RowCounts counts;
  std::string json_key;  // where it goes in coeffs.json
  std::string plot_file;
  std::vector<const fit::StepRow*> steps;  // beta only: the step of each row
};

Target beta_target(const fit::Dataset& d, bool include_flagged) {
  Target t;
  t.json_key = "beta";
  t.plot_file = "beta_residuals.png";
  t.data.name = "beta";
  t.data.target = "step.duration_us, us";
  t.data.features = fit::beta_feature_names();
  for (const fit::StepRow& s : d.steps) {
    ++t.counts.total;
    if (s.flag == fit::kFlagWarmup) ++t.counts.warmup;
    if (s.flag == fit::kFlagPreempted) ++t.counts.preempted;
    if (!s.flag.empty() && !include_flagged) continue;
    t.data.x.push_back(fit::beta_features(s));
    t.data.y.push_back(s.duration_us);
    t.steps.push_back(&s);
  }
  t.counts.used = t.data.y.size();
  return t;
}

// which: 0 QUEUED -> SCHEDULED, 1 ARRIVED -> QUEUED.
Target alpha_target(const fit::Dataset& d, bool include_flagged, int which) {
  Target t;
  t.json_key = which == 0 ? "queue_wait" : "api_to_core";
  t.plot_file = which == 0 ? "alpha_queue_wait_residuals.png" : "alpha_api_to_core_residuals.png";
  t.data.name = which == 0 ? "alpha queue_wait" : "alpha api_to_core";
  t.data.target = which == 0 ? "journey.QUEUED -> journey.SCHEDULED(FIRST), us"
                             : "api.ARRIVED -> journey.QUEUED, us";
  t.data.features = fit::alpha_feature_names();
  for (const fit::RequestRow& r : d.requests) {
    std::optional<double> y =
        which == 0 ? std::optional<double>(r.queue_wait_us()) : r.api_to_core_us();
    if (!y) continue;  // no api.ARRIVED for it: not a row of this target
    ++t.counts.total;
    if (r.flag == fit::kFlagWarmup) ++t.counts.warmup;
    if (r.flag == fit::kFlagPreempted) ++t.counts.preempted;
    const bool busy = which == 1 && r.flag.empty() && r.core_busy;
    if (busy) ++t.counts.core_busy;
    if ((!r.flag.empty() || busy) && !include_flagged) continue;
    t.data.x.push_back(fit::alpha_features(r));
    t.data.y.push_back(*y);
  }
  t.counts.used = t.data.y.size();
  return t;
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream file(path, std::ios::out | std::ios::trunc);
  if (!file) throw RunError{"cannot write " + path.string()};
  file << text;
  if (!file) throw RunError{"cannot write " + path.string()};
}

std::string us(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f us", v);
  return buf;
}

// The fitted step time beside the physical floor (perf/fit_floor.hpp), both
// as means over the holdout's steps, and the fastest step the trace holds.
std::string floor_report(const fit::Dataset& d, const fit::TargetFit& beta,
                         const std::vector<const fit::StepRow*>& rows,
                         const std::optional<FloorInputs>& floor, nlohmann::json& slot) {
  double fastest = std::numeric_limits<double>::infinity();
  for (const fit::StepRow& s : d.steps) {
    if (s.flag.empty()) fastest = std::min(fastest, s.duration_us);
  }
  double mean_pred = 0;
  double mean_floor = 0;
  const std::size_t n = beta.predicted.size() - beta.first_holdout;
  for (std::size_t i = beta.first_holdout; i < beta.predicted.size(); ++i) {
    mean_pred += beta.predicted[i];
    if (floor) mean_floor += fit::step_floor_us(floor->cost, floor->peaks, *rows[i]);
  }
  if (n > 0) {
    mean_pred /= static_cast<double>(n);
    mean_floor /= static_cast<double>(n);
  }
  std::string out;
  if (!floor) {
    out =
        "  physical floor: not derived (give --model, and --hw H100|H200|A100 or "
        "--memory-bandwidth-gbs)\n";
  } else if (n > 0) {
    char compute[64] = "bytes only";
    if (floor->peaks.compute_tflops > 0) {
      std::snprintf(compute, sizeof compute, "%.4g TFLOP/s", floor->peaks.compute_tflops);
    }
    char line[256];
    std::snprintf(line, sizeof line,
                  "  physical floor: %.3g us mean over the holdout's steps (weights %.3g MB, "
                  "%.4g GB/s, %s); the fitted steps are %.3gx that\n",
                  mean_floor, floor->cost.weight_bytes / 1e6, floor->peaks.memory_bandwidth_gb_s,
                  compute, mean_floor > 0 ? mean_pred / mean_floor : 0.0);
    out = line;
    slot["physical_floor"] = {{"weight_bytes", floor->cost.weight_bytes},
                              {"bytes_per_element", floor->bytes_per_element},
                              {"memory_bandwidth_gb_s", floor->peaks.memory_bandwidth_gb_s},
                              {"peak_tflops", floor->peaks.compute_tflops},
                              {"holdout_mean_floor_us", mean_floor},
                              {"holdout_mean_fitted_us", mean_pred}};
  }
  out += "  fitted step time: " + us(beta.coeffs[0]) + " fixed per step";
  if (n > 0) out += ", " + us(mean_pred) + " mean over the holdout";
  if (std::isfinite(fastest)) out += "; fastest unflagged step traced: " + us(fastest);
  return out + "\n";
}

// --model and the device's peaks, resolved; nullopt when the floor cannot be
// derived. A model that does not load is an error: it was asked for.
std::optional<FloorInputs> floor_inputs(const FitOptions& o) {
  if (o.model_dir.empty()) return std::nullopt;
  auto config = load_model_config(o.model_dir);
  if (!config) throw RunError{"--model: " + config.error().message};
  const auto device = fit::known_device(o.labels.hardware);
  fit::DevicePeaks peaks = device.value_or(fit::DevicePeaks{});
  if (o.memory_bandwidth_gb_s > 0) peaks.memory_bandwidth_gb_s = o.memory_bandwidth_gb_s;
  if (o.peak_tflops > 0) peaks.compute_tflops = o.peak_tflops;
  if (peaks.memory_bandwidth_gb_s <= 0) return std::nullopt;
  const double bytes = o.weight_bytes > 0 ? o.weight_bytes : device ? 2.0 : 4.0;
  return FloorInputs{fit::model_cost(*config, bytes), peaks, bytes};
}

int run_fit_with(const FitOptions& o, std::ostream& out, std::ostream& err) {
  const std::optional<FloorInputs> floor = floor_inputs(o);  // a bad --model fails first
  std::ifstream in(o.input);
  if (!in) throw RunError{"cannot read " + o.input};
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (ec) throw RunError{"cannot create --out-dir " + o.out_dir + ": " + ec.message()};

  err << "waypoint fit: reading " << o.input << "\n" << std::flush;
  const auto started = std::chrono::steady_clock::now();
  std::size_t warned = 0;
  fit::DatasetOptions dopts;
  dopts.warmup_steps = o.warmup_steps;
  dopts.labels = o.labels;
  const fit::Dataset data =
      fit::read_dataset(in, dopts, [&](std::size_t line, const std::string& reason) {
        if (++warned <= kMaxWarnings) {
          // In an OTLP export only the event named is skipped, not its line.
          if (reason.starts_with("OTLP span ")) {
            err << "waypoint fit: warning: line " << line << ": " << reason << " (event skipped)\n";
          } else {
            err << "waypoint fit: warning: line " << line << " skipped: " << reason << "\n";
          }
        }
      });
  if (warned > kMaxWarnings) {
    err << "waypoint fit: warning: " << warned - kMaxWarnings
        << " more malformed lines or events skipped\n";
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f", seconds);
    err << "waypoint fit: " << data.stats.lines << " lines (" << data.stats.malformed
        << " malformed), " << data.steps.size() << " steps, " << data.requests.size()
        << " requests, in " << buf << " s\n"
        << std::flush;
  }

  const fs::path dir(o.out_dir);
  {
    std::ofstream beta_csv(dir / "beta.csv", std::ios::out | std::ios::trunc);
    fit::write_beta_csv(beta_csv, data);
    std::ofstream alpha_csv(dir / "alpha.csv", std::ios::out | std::ios::trunc);
    fit::write_alpha_csv(alpha_csv, data);
    if (!beta_csv || !alpha_csv) throw RunError{"cannot write the CSVs in " + o.out_dir};
  }

  out << "Trace: " << o.input << ": " << data.stats.lines << " lines";
  if (data.stats.otlp_lines > 0) {
    out << " (" << data.stats.otlp_lines << " OTLP exports, " << data.stats.span_events
        << " span events)";
  }
  out << ", " << data.stats.step_events << " step summaries, " << data.stats.journey_events
      << " journey events, " << data.stats.malformed << " malformed lines or events skipped\n";
  out << "Holdout: the last " << o.holdout * 100 << "% of each set in time; warm-up: steps 1.."
      << o.warmup_steps << "; flagged rows " << (o.include_flagged ? "included" : "excluded")
      << "\n\n";

  nlohmann::json coeffs = {
      {"input", o.input},
      {"unit", "microseconds"},
      {"holdout_fraction", o.holdout},
      {"warmup_steps", o.warmup_steps},
      {"include_flagged", o.include_flagged},
      {"lines", data.stats.lines},
      {"malformed_lines", data.stats.malformed},
      {"otlp_lines", data.stats.otlp_lines},
      {"requests_unscheduled", data.stats.unscheduled},
      {"requests_without_arrival", data.stats.without_arrival},
      {"config", {{"model", o.labels.model}, {"hw", o.labels.hardware}, {"tp", o.labels.tp}}},
      {"alpha", nlohmann::json::object()},
  };

  std::vector<Target> targets;
  targets.push_back(beta_target(data, o.include_flagged));
  targets.push_back(alpha_target(data, o.include_flagged, 0));
  targets.push_back(alpha_target(data, o.include_flagged, 1));
  std::size_t fitted = 0;
  for (const Target& t : targets) {
    nlohmann::json& slot = t.json_key == "beta" ? coeffs["beta"] : coeffs["alpha"][t.json_key];
    auto result = fit::fit_target(t.data, o.holdout);
    if (!result) {
      out << t.data.name << " (" << t.data.target << "): not fitted: " << result.error().message
          << " (" << t.counts.total << " rows, flagged " << t.counts.warmup << " warmup + "
          << t.counts.preempted << " preempted)\n\n";
      slot = {{"target", t.data.target},
              {"error", result.error().message},
              {"rows",
               {{"total", t.counts.total},
                {"used", t.counts.used},
                {"flagged",
                 {{"warmup", t.counts.warmup},
                  {"preempted", t.counts.preempted},
                  {"core_busy", t.counts.core_busy}}}}}};
      continue;
    }
    ++fitted;
    out << fit::target_report(*result, t.counts);
    slot = fit::target_json(*result, t.counts);
    if (t.json_key == "beta") out << floor_report(data, *result, t.steps, floor, slot);

    std::vector<fit::PlotPoint> points;
    for (std::size_t i = 0; i < result->predicted.size(); ++i) {
      points.push_back({result->predicted[i], result->observed[i] - result->predicted[i],
                        i >= result->first_holdout});
    }
    const fit::PlotRange range = fit::plot_range(points);
    if (auto written = png::write_file(dir / t.plot_file, fit::residual_plot(points)); !written) {
      throw RunError{written.error().message};
    }
    char buf[160];
    std::snprintf(buf, sizeof buf, "  plot: %s (predicted %.4g..%.4g, residual +-%.4g)\n\n",
                  t.plot_file.c_str(), range.x_min, range.x_max, range.y_max);
    out << buf;
    slot["plot"] = t.plot_file;
  }
  fit::Hops hops = fit::measure_hops(data);
  std::vector<fit::BenchRun> runs;
  for (const std::string& path : o.bench_results) {
    auto run = fit::read_bench_result(path);
    if (!run) throw RunError{run.error().message};
    runs.push_back(*run);
  }
  if (auto calibrated = fit::calibrate_client(hops, data, runs); !calibrated) {
    throw RunError{calibrated.error().message};
  }
  out << fit::hops_report(hops);
  coeffs["hops"] = fit::hops_json(hops);
  coeffs["bench_results"] = o.bench_results;
  write_text(dir / "coeffs.json", coeffs.dump(2) + "\n");
  out << "Wrote " << (dir / "coeffs.json").string() << ", beta.csv and alpha.csv\n" << std::flush;
  err << "waypoint fit: fitted " << fitted << " of " << targets.size() << " models\n";
  if (fitted == 0) throw RunError{"nothing could be fitted"};
  return kExitOk;
}

int run_fit(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  FitOptions o;
  CommandLine cl(
      "fit",
      "Usage: waypoint fit TRACE.jsonl --out-dir DIR [--holdout 0.2] [--warmup-steps 10]\n"
      "                    [--include-flagged] [--bench-result RESULT.json ...]\n\n"
      "Reads a `waypoint events` JSONL trace recorded with --enable-journey-tracing\n"
      "--step-tracing-enabled --step-tracing-sample-rate 1 (or the OTLP JSON exports of\n"
      "--otlp-traces-endpoint, one per line, as a collector's file exporter writes\n"
      "them; each line's format is recognised by itself), builds the beta (step time)\n"
      "and alpha (queue wait, API-to-core) training sets, fits them with non-negative\n"
      "least squares, and reports R2 and MAPE on a time-ordered holdout. Writes\n"
      "beta.csv, alpha.csv, coeffs.json and residual plots (PNG) into --out-dir.\n"
      "Times are microseconds.\n\n");
  // clang-format off
  cl.options().add_options()
      ("input", po::value(&o.input),
       "the trace: `waypoint events` JSONL or OTLP JSON exports, one per line (or the first "
       "positional)")
      ("out-dir", po::value(&o.out_dir), "where beta.csv, alpha.csv, coeffs.json and the plots go")
      ("holdout", po::value(&o.holdout)->default_value(o.holdout),
       "the most recent fraction of each set, kept out of the fit to evaluate it")
      ("warmup-steps", po::value(&o.warmup_steps)->default_value(o.warmup_steps),
       "steps 1..N are warm-up: flagged and excluded")
      ("include-flagged", po::bool_switch(&o.include_flagged),
       "fit warm-up, preempted and core-busy rows too")
      ("bench-result", po::value(&o.bench_results)->composing(),
       "a `waypoint bench --result-json` of a run the trace recorded (repeatable): calibrates "
       "the client-side hops the trace cannot see")
      ("model-type", po::value(&o.labels.model)->default_value(o.labels.model),
       "the CSVs' model column (the trace does not say)")
      ("hw", po::value(&o.labels.hardware)->default_value(o.labels.hardware),
       "the CSVs' hardware column")
      ("tp", po::value(&o.labels.tp)->default_value(o.labels.tp), "the CSVs' TP column")
      ("model", po::value(&o.model_dir),
       "the served model's directory (config.json): with the device's peaks, the report "
       "prints each step's physical floor beside the fitted step time")
      ("memory-bandwidth-gbs", po::value(&o.memory_bandwidth_gb_s),
       "the device's memory bandwidth, GB/s; default: from --hw H100, H200 or A100")
      ("peak-tflops", po::value(&o.peak_tflops),
       "the device's dense 16-bit TFLOP/s; default: from --hw; without it the floor counts "
       "bytes only")
      ("weight-bytes", po::value(&o.weight_bytes),
       "bytes per weight and KV element as the worker holds them; default: 2 with a GPU "
       "--hw (bf16), else 4 (the CPU backend's f32)");
  // clang-format on
  cl.positional("input", 1);
  if (auto exit = cl.parse_or_exit(args, out, err)) return *exit;
  const auto usage = [&](const std::string& message) { return cl.usage_error(err, message); };
  if (o.input.empty()) return usage("a trace file is required (waypoint fit TRACE.jsonl)");
  if (o.out_dir.empty()) return usage("--out-dir is required");
  if (!(o.holdout >= 0 && o.holdout < 1)) return usage("--holdout must be in [0, 1)");
  if (o.warmup_steps < 0) return usage("--warmup-steps must be at least 0");
  if (o.labels.tp < 1) return usage("--tp must be at least 1");
  if (o.memory_bandwidth_gb_s < 0) return usage("--memory-bandwidth-gbs must not be negative");
  if (o.peak_tflops < 0) return usage("--peak-tflops must not be negative");
  if (o.weight_bytes < 0) return usage("--weight-bytes must not be negative");
  if (o.model_dir.empty() && (o.memory_bandwidth_gb_s > 0 || o.peak_tflops > 0)) {
    return usage("--memory-bandwidth-gbs and --peak-tflops need --model");
  }
  try {
    return run_fit_with(o, out, err);
  } catch (const RunError& e) {
    err << "waypoint fit: " << e.message << "\n";
    return kExitFailure;
  }
}

}  // namespace

Subcommand fit_subcommand() {
  return {"fit", "fit the step-time (beta) and queueing (alpha) models to a trace", run_fit};
}

}  // namespace waypoint::cli
