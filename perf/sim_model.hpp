#pragma once
// The performance model `waypoint sim` runs on, read from the coeffs.json
// that `waypoint fit` writes: beta prices each step the real scheduler
// builds, alpha's api_to_core delays each request on its way to the core,
// and the hops place the core's tokens where the benchmark client sees them.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.hpp"
#include "engine_core/step_trace.hpp"
#include "perf/fit_dataset.hpp"

namespace waypoint::sim {

struct LinearModel {
  std::vector<std::string> features;
  std::vector<double> coefficients;
  double predict(const std::vector<double>& x) const;
};

struct PerfModel {
  LinearModel beta;  // step.duration_us
  // api.ARRIVED -> the core, us; absent when the trace had no API events.
  std::optional<LinearModel> api_to_core;
  double first_response_us = 0;
  double departure_us = 0;
  double step_gap_us = 0;
  double client_first_chunk_us = 0;
  double client_last_chunk_us = 0;
  // The first chunk's client hop per request (fit::ClientHopModel), over the
  // prefill tokens of the steps running when the request arrives and when its
  // first response leaves the core; absent: client_first_chunk_us for all.
  std::optional<LinearModel> client_first_chunk;
  // What coeffs.json lacked and was taken as 0, one line each, for the report.
  std::vector<std::string> notes;

  // The step's duration, at least 1 us so virtual time always moves.
  double step_us(const BatchSummary& batch) const;
  double step_us(const fit::StepRow& row) const;  // the same, from the row fit would read
  // At least 0.
  double api_us(double prompt_tokens, double waiting_depth, double running_depth,
                double kv_usage) const;
  // At least 0.
  double first_chunk_client_us(double arrival_step_prefill_tokens,
                               double response_step_prefill_tokens) const;
};

// `source` (a path) starts every error message.
Result<PerfModel> perf_model_from_json(const nlohmann::json& coeffs, const std::string& source);
Result<PerfModel> load_perf_model(const std::string& path);

}  // namespace waypoint::sim
