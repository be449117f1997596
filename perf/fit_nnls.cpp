#include "perf/fit_nnls.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace waypoint::fit {

namespace {

// The scaled normal equations: A = D X^T X D, b = D X^T y, with D scaling
// each column of X to unit norm (an all-zero column keeps scale 1).
struct Normal {
  std::size_t n = 0;
  std::vector<double> a;  // n x n
  std::vector<double> b;
  std::vector<double> scale;
};

Result<Normal> normal_equations(const Matrix& x, const std::vector<double>& y) {
  if (x.rows == 0 || x.cols == 0) return Error{"no rows to fit"};
  if (y.size() != x.rows) return Error{"the target has a different number of rows"};
  for (double v : x.data) {
    if (!std::isfinite(v)) return Error{"a feature is not finite"};
  }
  for (double v : y) {
    if (!std::isfinite(v)) return Error{"a target is not finite"};
  }
  Normal ne;
  ne.n = x.cols;
  ne.scale.assign(ne.n, 1.0);
  for (std::size_t j = 0; j < ne.n; ++j) {
    double sq = 0;
    for (std::size_t r = 0; r < x.rows; ++r) sq += x.at(r, j) * x.at(r, j);
    if (sq > 0) ne.scale[j] = 1.0 / std::sqrt(sq);
  }
  ne.a.assign(ne.n * ne.n, 0.0);
  ne.b.assign(ne.n, 0.0);
  for (std::size_t r = 0; r < x.rows; ++r) {
    for (std::size_t i = 0; i < ne.n; ++i) {
      const double xi = x.at(r, i) * ne.scale[i];
      if (xi == 0) continue;
      ne.b[i] += xi * y[r];
      for (std::size_t j = i; j < ne.n; ++j) ne.a[i * ne.n + j] += xi * x.at(r, j) * ne.scale[j];
    }
  }
  for (std::size_t i = 0; i < ne.n; ++i) {
    for (std::size_t j = 0; j < i; ++j) ne.a[i * ne.n + j] = ne.a[j * ne.n + i];
  }
  return ne;
}

// Solves A_PP z = b_P by Cholesky. A column that is (numerically) a linear
// combination of those before it gets a pivot of ~0; it is given a tiny ridge
// instead of failing, because a redundant feature (say, an intercept and a
// constant batch size) is an ordinary trace, not an error.
std::vector<double> solve_passive(const Normal& ne, const std::vector<std::size_t>& passive) {
  const std::size_t m = passive.size();
  std::vector<double> l(m * m, 0.0);
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j <= i; ++j) {
      double s = ne.a[passive[i] * ne.n + passive[j]];
      for (std::size_t k = 0; k < j; ++k) s -= l[i * m + k] * l[j * m + k];
      if (i == j) {
        // Unit-norm columns give a diagonal of 1, so 1e-12 is relative.
        l[i * m + i] = std::sqrt(std::max(s, 1e-12));
      } else {
        l[i * m + j] = s / l[j * m + j];
      }
    }
  }
  std::vector<double> z(m);
  for (std::size_t i = 0; i < m; ++i) {
    double s = ne.b[passive[i]];
    for (std::size_t k = 0; k < i; ++k) s -= l[i * m + k] * z[k];
    z[i] = s / l[i * m + i];
  }
  for (std::size_t ii = m; ii-- > 0;) {
    double s = z[ii];
    for (std::size_t k = ii + 1; k < m; ++k) s -= l[k * m + ii] * z[k];
    z[ii] = s / l[ii * m + ii];
  }
  return z;
}

std::vector<double> gradient(const Normal& ne, const std::vector<double>& x) {
  std::vector<double> w(ne.n);
  for (std::size_t i = 0; i < ne.n; ++i) {
    double s = ne.b[i];
    for (std::size_t j = 0; j < ne.n; ++j) s -= ne.a[i * ne.n + j] * x[j];
    w[i] = s;
  }
  return w;
}

}  // namespace

Result<NnlsSolution> nnls(const Matrix& x, const std::vector<double>& y,
                          std::size_t max_iterations) {
  auto ne_or = normal_equations(x, y);
  if (!ne_or) return ne_or.error();
  const Normal& ne = *ne_or;
  const std::size_t n = ne.n;
  if (max_iterations == 0) max_iterations = 30 * n + 30;

  // The tolerance on the gradient, relative to the problem's size.
  double bnorm = 0;
  for (double v : ne.b) bnorm = std::max(bnorm, std::abs(v));
  const double tol = 1e-10 * std::max(1.0, bnorm);

  std::vector<double> s(n, 0.0);  // the scaled solution
  std::vector<bool> in_passive(n, false);
  NnlsSolution out;
  for (;;) {
    const std::vector<double> w = gradient(ne, s);
    std::size_t best = n;
    double best_w = tol;
    for (std::size_t j = 0; j < n; ++j) {
      if (!in_passive[j] && w[j] > best_w) {
        best_w = w[j];
        best = j;
      }
    }
    if (best == n) break;  // KKT holds: no zero coefficient wants to grow
    if (++out.iterations > max_iterations) return Error{"NNLS did not converge"};
    in_passive[best] = true;

    // Inner loop: step towards the unconstrained solution on the passive set
    // until it is feasible, dropping coefficients that hit zero on the way.
    for (std::size_t inner = 0;; ++inner) {
      if (inner > 3 * n + 3) return Error{"NNLS inner loop did not converge"};
      std::vector<std::size_t> passive;
      for (std::size_t j = 0; j < n; ++j) {
        if (in_passive[j]) passive.push_back(j);
      }
      const std::vector<double> zp = solve_passive(ne, passive);
      std::vector<double> z(n, 0.0);
      bool feasible = true;
      for (std::size_t k = 0; k < passive.size(); ++k) {
        z[passive[k]] = zp[k];
        if (zp[k] <= 0) feasible = false;
      }
      if (feasible) {
        s = std::move(z);
        break;
      }
      double alpha = std::numeric_limits<double>::infinity();
      for (std::size_t j : passive) {
        if (z[j] <= 0) alpha = std::min(alpha, s[j] / (s[j] - z[j]));
      }
      for (std::size_t j = 0; j < n; ++j) s[j] += alpha * (z[j] - s[j]);
      for (std::size_t j : passive) {
        // The column that reached zero (and any rounded to it) leaves.
        if (s[j] <= 1e-15 * std::max(1.0, std::abs(z[j]))) {
          s[j] = 0;
          in_passive[j] = false;
        }
      }
    }
  }
  out.x.resize(n);
  for (std::size_t j = 0; j < n; ++j) out.x[j] = std::max(0.0, s[j]) * ne.scale[j];
  return out;
}

Result<std::vector<double>> least_squares(const Matrix& x, const std::vector<double>& y) {
  auto ne_or = normal_equations(x, y);
  if (!ne_or) return ne_or.error();
  std::vector<std::size_t> all(ne_or->n);
  for (std::size_t j = 0; j < all.size(); ++j) all[j] = j;
  std::vector<double> z = solve_passive(*ne_or, all);
  for (std::size_t j = 0; j < z.size(); ++j) z[j] *= ne_or->scale[j];
  return z;
}

std::vector<double> kkt_gradient(const Matrix& x, const std::vector<double>& y,
                                 const std::vector<double>& coeffs) {
  std::vector<double> w(x.cols, 0.0);
  for (std::size_t r = 0; r < x.rows; ++r) {
    const double residual = y[r] - predict_row(x, r, coeffs);
    for (std::size_t j = 0; j < x.cols; ++j) w[j] += x.at(r, j) * residual;
  }
  return w;
}

double predict_row(const Matrix& x, std::size_t row, const std::vector<double>& coeffs) {
  double s = 0;
  for (std::size_t j = 0; j < x.cols; ++j) s += x.at(row, j) * coeffs[j];
  return s;
}

}  // namespace waypoint::fit
