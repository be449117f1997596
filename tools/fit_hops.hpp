#pragma once
// The latency a request meets outside the scheduler's steps, which
// `waypoint sim` adds around the steps it simulates: the core's output
// reaching the frontend, the frontend closing the response, the engine
// loop's overhead between busy steps, and the hop to the benchmark client,
// which no server-side trace can see and which is calibrated against
// `waypoint bench` results recorded with the trace. Each is a mean in
// microseconds: the simulator predicts means and percentiles of sums over
// many requests, where a per-request model of microsecond hops buys nothing.
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "proto/result.hpp"
#include "tools/fit_dataset.hpp"

namespace waypoint::fit {

struct HopEstimate {
  double mean_us = 0;
  std::size_t rows = 0;
};

struct Hops {
  HopEstimate first_response;  // journey.FIRST_TOKEN -> api.FIRST_RESPONSE_FROM_CORE
  HopEstimate departure;       // journey.FINISHED -> api.DEPARTED
  HopEstimate step_gap;        // step.gap_us after a step that left requests running
  // Bench's client-side TTFT (E2E) minus the traced ARRIVED ->
  // FIRST_RESPONSE_FROM_CORE (ARRIVED -> DEPARTED): present only when bench
  // results were given; rows counts the benchmarked requests.
  std::optional<HopEstimate> client_first_chunk;
  std::optional<HopEstimate> client_last_chunk;
};

// Measured over the requests and steps outside warm-up.
Hops measure_hops(const Dataset& data);

// One `waypoint bench --result-json` file: what calibration needs of it.
struct BenchRun {
  std::string path;
  std::size_t completed = 0;
  double mean_ttft_ms = 0;
  double mean_e2el_ms = 0;
};
Result<BenchRun> read_bench_result(const std::string& path);

// Sets the client hops from bench runs whose requests the trace recorded
// (and nothing else): the pooled bench means minus the trace's means over
// every traced request, warm-up included, as the bench saw them all.
Result<void> calibrate_client(Hops& hops, const Dataset& data, const std::vector<BenchRun>& runs);

nlohmann::json hops_json(const Hops& hops);
std::string hops_report(const Hops& hops);

}  // namespace waypoint::fit
