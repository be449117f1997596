#include "perf/fit_report.hpp"

#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "perf/fit_nnls.hpp"

namespace waypoint::fit {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// JSON has no NaN: an undefined figure is null.
nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

std::string fixed(double v, int digits) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string general(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

Metrics evaluate(const std::vector<double>& observed, const std::vector<double>& predicted) {
  Metrics m;
  m.rows = observed.size();
  if (observed.empty()) {
    m.r2 = m.mape = kNaN;
    return m;
  }
  double mean = 0;
  for (double v : observed) mean += v;
  mean /= static_cast<double>(observed.size());
  double ss_res = 0, ss_tot = 0, ape = 0;
  std::size_t ape_rows = 0;
  for (std::size_t i = 0; i < observed.size(); ++i) {
    const double e = observed[i] - predicted[i];
    ss_res += e * e;
    ss_tot += (observed[i] - mean) * (observed[i] - mean);
    if (observed[i] != 0) {
      ape += std::abs(e) / std::abs(observed[i]);
      ++ape_rows;
    }
  }
  m.r2 = observed.size() >= 2 && ss_tot > 0 ? 1.0 - ss_res / ss_tot : kNaN;
  m.mape = ape_rows > 0 ? 100.0 * ape / static_cast<double>(ape_rows) : kNaN;
  return m;
}

std::size_t holdout_start(std::size_t n, double fraction) {
  if (fraction <= 0 || n < 2) return n;
  auto held = static_cast<std::size_t>(std::llround(static_cast<double>(n) * fraction));
  held = std::max<std::size_t>(held, 1);
  held = std::min(held, n - 1);
  return n - held;
}

Result<TargetFit> fit_target(const TargetData& data, double holdout_fraction) {
  TargetFit fit;
  fit.name = data.name;
  fit.target = data.target;
  fit.features = data.features;
  const std::size_t n = data.y.size();
  fit.first_holdout = holdout_start(n, holdout_fraction);
  fit.train_rows = fit.first_holdout;
  if (fit.train_rows == 0) return Error{data.name + ": no rows to fit"};

  Matrix x(fit.train_rows, data.features.size());
  std::vector<double> y(data.y.begin(),
                        data.y.begin() + static_cast<std::ptrdiff_t>(fit.train_rows));
  for (std::size_t r = 0; r < fit.train_rows; ++r) {
    for (std::size_t c = 0; c < x.cols; ++c) x.at(r, c) = data.x[r][c];
  }
  auto solved = nnls(x, y);
  if (!solved) return Error{data.name + ": " + solved.error().message};
  fit.coeffs = std::move(solved->x);

  fit.observed = data.y;
  fit.predicted.resize(n);
  for (std::size_t r = 0; r < n; ++r) {
    double p = 0;
    for (std::size_t c = 0; c < fit.coeffs.size(); ++c) p += data.x[r][c] * fit.coeffs[c];
    fit.predicted[r] = p;
  }
  const auto part = [&](std::size_t from, std::size_t to) {
    return evaluate(std::vector<double>(fit.observed.begin() + static_cast<std::ptrdiff_t>(from),
                                        fit.observed.begin() + static_cast<std::ptrdiff_t>(to)),
                    std::vector<double>(fit.predicted.begin() + static_cast<std::ptrdiff_t>(from),
                                        fit.predicted.begin() + static_cast<std::ptrdiff_t>(to)));
  };
  fit.train = part(0, fit.first_holdout);
  fit.holdout = part(fit.first_holdout, n);
  return fit;
}

nlohmann::json target_json(const TargetFit& fit, const RowCounts& counts) {
  nlohmann::json coeffs = nlohmann::json::object();
  for (std::size_t i = 0; i < fit.features.size(); ++i) coeffs[fit.features[i]] = fit.coeffs[i];
  return {
      {"target", fit.target},
      {"features", fit.features},
      {"coefficients", fit.coeffs},
      {"coefficients_by_name", coeffs},
      {"train",
       {{"rows", fit.train.rows},
        {"r2", number_or_null(fit.train.r2)},
        {"mape_percent", number_or_null(fit.train.mape)}}},
      {"holdout",
       {{"rows", fit.holdout.rows},
        {"r2", number_or_null(fit.holdout.r2)},
        {"mape_percent", number_or_null(fit.holdout.mape)}}},
      {"rows",
       {{"total", counts.total},
        {"used", counts.used},
        {"flagged",
         {{"warmup", counts.warmup},
          {"preempted", counts.preempted},
          {"core_busy", counts.core_busy}}}}},
  };
}

std::string target_report(const TargetFit& fit, const RowCounts& counts) {
  std::ostringstream out;
  out << fit.name << " (" << fit.target << "): " << counts.total << " rows, " << counts.used
      << " used, flagged " << counts.warmup << " warmup + " << counts.preempted << " preempted";
  if (counts.core_busy > 0) out << " + " << counts.core_busy << " core_busy";
  out << "\n";
  for (std::size_t i = 0; i < fit.features.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%-24s", fit.features[i].c_str());
    out << "  " << name << general(fit.coeffs[i]) << "\n";
  }
  const auto percent = [](double v) { return std::isfinite(v) ? fixed(v, 2) + "%" : "n/a"; };
  out << "  train:   " << fit.train.rows << " rows  R2 " << fixed(fit.train.r2, 4) << "  MAPE "
      << percent(fit.train.mape) << "\n";
  out << "  holdout: " << fit.holdout.rows << " rows  R2 " << fixed(fit.holdout.r2, 4) << "  MAPE "
      << percent(fit.holdout.mape) << "\n";
  return out.str();
}

}  // namespace waypoint::fit
