#pragma once
// The latency a request meets outside the scheduler's steps, which
// `waypoint sim` adds around the steps it simulates: the core's output
// reaching the frontend, the frontend closing the response, the engine
// loop's overhead between busy steps, and the hop to the benchmark client,
// which no server-side trace can see and which is calibrated against
// `waypoint bench` results recorded with the trace. Each is a mean in
// microseconds: the simulator predicts means and percentiles of sums over
// many requests, where a per-request model of microsecond hops buys nothing.
// The exception is the client's first-chunk hop, which is milliseconds when
// the machine is busy (ClientHopModel).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.hpp"
#include "perf/fit_dataset.hpp"

namespace waypoint::fit {

struct HopEstimate {
  double mean_us = 0;
  std::size_t rows = 0;
};

// The client's first-chunk hop, per request. Where the worker shares the
// machine's cores with the frontend and the client (a CPU server), a prefill
// step that runs while the request is sent, or while its first chunk travels
// out, takes the CPU the hop needs: on the 2-core validation machine a
// 400-token prefill in flight added 1-4 ms to a 0.6 ms hop. A mean over one
// workload's requests prices that contention at that workload's prefill mix,
// so it is fitted per request (non-negative least squares) on the features
// below, which `waypoint sim` computes from its own steps the same way.
struct ClientHopModel {
  std::vector<double> coefficients;  // over client_hop_feature_names()
  std::size_t rows = 0;
};
// intercept; prefill tokens of the step running at api.ARRIVED; prefill
// tokens of the step running at api.FIRST_RESPONSE_FROM_CORE (0: none, or a
// decode-only step).
const std::vector<std::string>& client_hop_feature_names();

// The step running at t (started before t, not yet ended), in steps sorted by
// start: its prefill tokens; 0 when no step was running. A Step has
// ts_start_ns, ts_end_ns and prefill_tokens: a trace's StepRow, or the
// simulator's own record of the steps it ran.
template <class Step>
double prefill_tokens_running_at(const std::vector<Step>& steps, std::int64_t t_ns) {
  // The last step started strictly before t: a request's own first step
  // starts after it arrived, and must not count as contention on it.
  const auto after =
      std::lower_bound(steps.begin(), steps.end(), t_ns,
                       [](const Step& s, std::int64_t t) { return s.ts_start_ns < t; });
  if (after == steps.begin()) return 0.0;
  const Step& running = *std::prev(after);
  return t_ns < running.ts_end_ns ? static_cast<double>(running.prefill_tokens) : 0.0;
}

struct Hops {
  HopEstimate first_response;  // journey.FIRST_TOKEN -> api.FIRST_RESPONSE_FROM_CORE
  HopEstimate departure;       // journey.FINISHED -> api.DEPARTED
  HopEstimate step_gap;        // step.gap_us after a step that left requests running
  // Bench's client-side TTFT (E2E) minus the traced ARRIVED ->
  // FIRST_RESPONSE_FROM_CORE (ARRIVED -> DEPARTED): present only when bench
  // results were given; rows counts the benchmarked requests.
  std::optional<HopEstimate> client_first_chunk;
  std::optional<HopEstimate> client_last_chunk;
  // Present when the bench results name their requests (response_ids) and
  // enough of them are in the trace.
  std::optional<ClientHopModel> client_first_chunk_model;
};

// Measured over the requests and steps outside warm-up.
Hops measure_hops(const Dataset& data);

// One `waypoint bench --result-json` file: what calibration needs of it.
struct BenchRun {
  std::string path;
  std::size_t completed = 0;
  double mean_ttft_ms = 0;
  double mean_e2el_ms = 0;
  // Each successful request's response id and TTFT; empty when the file has
  // no response_ids (a bench older than the per-request calibration).
  std::vector<std::pair<std::string, double>> ttft_us_by_id;
};
Result<BenchRun> read_bench_result(const std::string& path);

// Sets the client hops from bench runs whose requests the trace recorded
// (and nothing else): the pooled bench means minus the trace's means over
// every traced request, warm-up included, as the bench saw them all; and,
// when every run names its requests, the per-request first-chunk model.
Result<void> calibrate_client(Hops& hops, const Dataset& data, const std::vector<BenchRun>& runs);

nlohmann::json hops_json(const Hops& hops);
std::string hops_report(const Hops& hops);

}  // namespace waypoint::fit
