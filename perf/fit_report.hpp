#pragma once
// Fitting one target on a time-ordered holdout and reporting it: R², MAPE,
// and coeffs.json (docs/fit.md). The rows must already be in time order, so
// the holdout is the most recent part of the trace, never a random sample
// (docs/fit.md, "The fit and the report").
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.hpp"

namespace waypoint::fit {

struct Metrics {
  double r2 = 0;    // 1 - SS_res / SS_tot; NaN with fewer than 2 rows or constant y
  double mape = 0;  // mean |y - p| / |y| in percent, over rows with y != 0; NaN if none
  std::size_t rows = 0;
};

Metrics evaluate(const std::vector<double>& observed, const std::vector<double>& predicted);

// The index of the first holdout row: the last `fraction` of n rows, at least
// one row on each side when n >= 2. fraction 0 means no holdout.
std::size_t holdout_start(std::size_t n, double fraction);

// One target's rows, already filtered (flagged rows out unless asked for).
struct TargetData {
  std::string name;    // "beta", "alpha_queue_wait", ...
  std::string target;  // what y is, with its unit
  std::vector<std::string> features;
  std::vector<std::vector<double>> x;  // time order
  std::vector<double> y;
};

struct TargetFit {
  std::string name;
  std::string target;
  std::vector<std::string> features;
  std::vector<double> coeffs;
  std::size_t train_rows = 0;
  Metrics train;
  Metrics holdout;                // rows == 0 when there is no holdout
  std::vector<double> predicted;  // every row, time order
  std::vector<double> observed;
  std::size_t first_holdout = 0;
};

// Fits on the rows before the holdout with NNLS and evaluates both parts.
Result<TargetFit> fit_target(const TargetData& data, double holdout_fraction);

// Counts for the report and coeffs.json.
struct RowCounts {
  std::size_t total = 0;
  std::size_t warmup = 0;
  std::size_t preempted = 0;
  std::size_t core_busy = 0;  // api_to_core only: the wait for a running step is in it
  std::size_t used = 0;       // rows that went into the fit and holdout
};

nlohmann::json target_json(const TargetFit& fit, const RowCounts& counts);

// One block of the printed report.
std::string target_report(const TargetFit& fit, const RowCounts& counts);

}  // namespace waypoint::fit
