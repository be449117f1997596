#pragma once
// `waypoint fit`: learns the step-time model (beta) and the queueing model
// (alpha) from a `waypoint events` JSONL trace with non-negative least squares,
// and writes the training sets, coeffs.json and residual plots (docs/fit.md).
#include "base/subcommand.hpp"

namespace waypoint::cli {

Subcommand fit_subcommand();

}  // namespace waypoint::cli
