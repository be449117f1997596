#include "tools/fit_hops.hpp"

#include <cstdio>
#include <fstream>

namespace waypoint::fit {

namespace {

struct Mean {
  double sum = 0;
  std::size_t n = 0;
  void add(double v) {
    sum += v;
    ++n;
  }
  HopEstimate estimate() const { return {n ? sum / static_cast<double>(n) : 0.0, n}; }
};

double us_between(std::int64_t from_ns, std::int64_t to_ns) {
  return static_cast<double>(to_ns - from_ns) / 1e3;
}

}  // namespace

Hops measure_hops(const Dataset& data) {
  Mean first_response, departure, gap;
  for (const RequestRow& r : data.requests) {
    if (r.flag == kFlagWarmup) continue;
    if (r.first_token_ns && r.first_response_ns) {
      first_response.add(us_between(*r.first_token_ns, *r.first_response_ns));
    }
    if (r.finished_ns && r.departed_ns) departure.add(us_between(*r.finished_ns, *r.departed_ns));
  }
  // A step that follows one which left requests running started as soon as
  // the loop let it: its gap is the loop's own overhead, not idle time.
  for (std::size_t i = 1; i < data.steps.size(); ++i) {
    const StepRow& previous = data.steps[i - 1];
    const StepRow& step = data.steps[i];
    if (step.flag == kFlagWarmup || step.step_id != previous.step_id + 1) continue;
    if (previous.running_depth - previous.num_finished > 0) gap.add(step.gap_us);
  }
  return {first_response.estimate(), departure.estimate(), gap.estimate(), {}, {}};
}

Result<BenchRun> read_bench_result(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error{"cannot read --bench-result " + path};
  const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Error{path + ": not a JSON object"};
  BenchRun run;
  run.path = path;
  for (const char* key : {"completed", "mean_ttft_ms", "mean_e2el_ms"}) {
    if (!j.contains(key) || !j[key].is_number()) {
      return Error{path + ": no numeric '" + key + "' (not a `waypoint bench --result-json`?)"};
    }
  }
  run.completed = j["completed"].get<std::size_t>();
  run.mean_ttft_ms = j["mean_ttft_ms"].get<double>();
  run.mean_e2el_ms = j["mean_e2el_ms"].get<double>();
  if (run.completed == 0) return Error{path + ": no request completed"};
  return run;
}

Result<void> calibrate_client(Hops& hops, const Dataset& data, const std::vector<BenchRun>& runs) {
  if (runs.empty()) return {};
  Mean bench_ttft, bench_e2el;
  for (const BenchRun& run : runs) {
    bench_ttft.sum += run.mean_ttft_ms * 1e3 * static_cast<double>(run.completed);
    bench_e2el.sum += run.mean_e2el_ms * 1e3 * static_cast<double>(run.completed);
    bench_ttft.n += run.completed;
    bench_e2el.n += run.completed;
  }
  Mean traced_first, traced_last;
  for (const RequestRow& r : data.requests) {
    if (!r.arrived_ns) continue;
    if (r.first_response_ns) traced_first.add(us_between(*r.arrived_ns, *r.first_response_ns));
    if (r.departed_ns) traced_last.add(us_between(*r.arrived_ns, *r.departed_ns));
  }
  if (traced_first.n == 0 || traced_last.n == 0) {
    return Error{
        "--bench-result needs the trace's api.ARRIVED, api.FIRST_RESPONSE_FROM_CORE and "
        "api.DEPARTED (serve with --enable-journey-tracing)"};
  }
  const std::size_t benched = bench_ttft.n;
  hops.client_first_chunk =
      HopEstimate{bench_ttft.estimate().mean_us - traced_first.estimate().mean_us, benched};
  hops.client_last_chunk =
      HopEstimate{bench_e2el.estimate().mean_us - traced_last.estimate().mean_us, benched};
  return {};
}

nlohmann::json hops_json(const Hops& hops) {
  const auto one = [](const std::string& what, const HopEstimate& h) {
    return nlohmann::json{{"what", what}, {"mean_us", h.mean_us}, {"rows", h.rows}};
  };
  nlohmann::json j = {
      {"first_response",
       one("journey.FIRST_TOKEN -> api.FIRST_RESPONSE_FROM_CORE", hops.first_response)},
      {"departure", one("journey.FINISHED -> api.DEPARTED", hops.departure)},
      {"step_gap", one("step.gap_us after a step that left requests running", hops.step_gap)},
  };
  if (hops.client_first_chunk) {
    j["client_first_chunk"] = one("bench TTFT - (api.ARRIVED -> api.FIRST_RESPONSE_FROM_CORE)",
                                  *hops.client_first_chunk);
  }
  if (hops.client_last_chunk) {
    j["client_last_chunk"] =
        one("bench E2E - (api.ARRIVED -> api.DEPARTED)", *hops.client_last_chunk);
  }
  return j;
}

std::string hops_report(const Hops& hops) {
  std::string out = "hops (means outside the steps, us):\n";
  const auto line = [&](const char* name, const HopEstimate& h, const char* what) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "  %-20s %10.1f  over %zu %s\n", name, h.mean_us, h.rows, what);
    out += buf;
  };
  line("first_response", hops.first_response, "requests");
  line("departure", hops.departure, "requests");
  line("step_gap", hops.step_gap, "steps");
  if (hops.client_first_chunk) {
    line("client_first_chunk", *hops.client_first_chunk, "benchmarked requests");
    line("client_last_chunk", *hops.client_last_chunk, "benchmarked requests");
  } else {
    out += "  client hops: not calibrated (no --bench-result); the simulator takes them as 0\n";
  }
  return out + "\n";
}

}  // namespace waypoint::fit
