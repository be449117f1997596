#include "perf/fit_hops.hpp"

#include <cstdio>
#include <fstream>
#include <unordered_map>

#include "perf/fit_nnls.hpp"

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

// Fewer paired requests than this leave the first-chunk hop a mean: three
// coefficients from a handful of noisy millisecond hops would be noise.
constexpr std::size_t kMinClientHopRows = 30;

std::optional<ClientHopModel> fit_client_hop(const Dataset& data,
                                             const std::vector<BenchRun>& runs) {
  std::unordered_map<std::string, const RequestRow*> by_id;
  for (const RequestRow& r : data.requests) {
    if (r.arrived_ns && r.first_response_ns) by_id.emplace(r.request_id, &r);
  }
  const std::vector<StepRow>& steps = data.steps;  // in time order
  std::vector<std::vector<double>> rows;
  std::vector<double> y;
  for (const BenchRun& run : runs) {
    for (const auto& [id, ttft_us] : run.ttft_us_by_id) {
      const auto it = by_id.find(id);
      if (it == by_id.end()) continue;
      const RequestRow& r = *it->second;
      rows.push_back({1.0, prefill_tokens_running_at(steps, *r.arrived_ns),
                      prefill_tokens_running_at(steps, *r.first_response_ns)});
      y.push_back(ttft_us - us_between(*r.arrived_ns, *r.first_response_ns));
    }
  }
  if (rows.size() < kMinClientHopRows) return std::nullopt;
  Matrix x(rows.size(), client_hop_feature_names().size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    for (std::size_t c = 0; c < x.cols; ++c) x.at(i, c) = rows[i][c];
  }
  auto solved = nnls(x, y);
  if (!solved) return std::nullopt;
  return ClientHopModel{solved->x, rows.size()};
}

}  // namespace

const std::vector<std::string>& client_hop_feature_names() {
  static const std::vector<std::string> kNames = {"intercept", "arrival_step_prefill_tokens",
                                                  "response_step_prefill_tokens"};
  return kNames;
}

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
  return {first_response.estimate(), departure.estimate(), gap.estimate(), {}, {}, {}};
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
  const auto ids = j.find("response_ids");
  const auto ttfts = j.find("ttfts");
  const auto errors = j.find("errors");
  if (ids != j.end() && ttfts != j.end() && ids->is_array() && ttfts->is_array()) {
    if (ids->size() != ttfts->size()) {
      return Error{path + ": response_ids and ttfts differ in length"};
    }
    for (std::size_t i = 0; i < ids->size(); ++i) {
      const bool failed = errors != j.end() && errors->is_array() && i < errors->size() &&
                          (*errors)[i].is_string() && !(*errors)[i].get<std::string>().empty();
      if (failed || !(*ids)[i].is_string() || !(*ttfts)[i].is_number()) continue;
      const std::string id = (*ids)[i].get<std::string>();
      if (!id.empty()) run.ttft_us_by_id.emplace_back(id, (*ttfts)[i].get<double>() * 1e6);
    }
  }
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
  hops.client_first_chunk_model = fit_client_hop(data, runs);
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
    j["client_first_chunk"] =
        one("bench TTFT - (api.ARRIVED -> api.FIRST_RESPONSE_FROM_CORE)", *hops.client_first_chunk);
    if (const auto& m = hops.client_first_chunk_model) {
      j["client_first_chunk"]["features"] = client_hop_feature_names();
      j["client_first_chunk"]["coefficients"] = m->coefficients;
      j["client_first_chunk"]["model_rows"] = m->rows;
    }
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
    if (const auto& m = hops.client_first_chunk_model) {
      char buf[240];
      std::snprintf(buf, sizeof buf,
                    "    per request: %.1f us + %.3f us per prefill token running at arrival "
                    "+ %.3f at the first response (%zu paired requests)\n",
                    m->coefficients[0], m->coefficients[1], m->coefficients[2], m->rows);
      out += buf;
    } else {
      out +=
          "    per request: not fitted (needs bench results with response_ids, and at least 30 "
          "of their requests in the trace)\n";
    }
    line("client_last_chunk", *hops.client_last_chunk, "benchmarked requests");
  } else {
    out += "  client hops: not calibrated (no --bench-result); the simulator takes them as 0\n";
  }
  return out + "\n";
}

}  // namespace waypoint::fit
