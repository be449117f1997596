#pragma once
// Non-negative least squares (Lawson and Hanson, "Solving Least Squares
// Problems", ch. 23) for `waypoint fit`. A step-time or queueing model with a
// negative coefficient would predict that more work takes less time, which the
// simulator must never do; so the fit is constrained, not clipped afterwards.
//
// The problems are tall and thin (thousands of rows, a handful of features),
// so the solver works on the normal equations X^T X, X^T y, after scaling each
// column to unit norm: the features span 1 (intercept) to ~1e7 (context sums),
// and unscaled normal equations would lose most of their digits.
#include <cstddef>
#include <vector>

#include "base/result.hpp"

namespace waypoint::fit {

// Row-major, rows x cols.
struct Matrix {
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::vector<double> data;

  Matrix() = default;
  Matrix(std::size_t r, std::size_t c) : rows(r), cols(c), data(r * c, 0.0) {}
  double& at(std::size_t r, std::size_t c) { return data[r * cols + c]; }
  double at(std::size_t r, std::size_t c) const { return data[r * cols + c]; }
};

struct NnlsSolution {
  std::vector<double> x;       // one coefficient per column, all >= 0
  std::size_t iterations = 0;  // outer iterations (columns moved into the passive set)
};

// Minimises ||X x - y||_2 subject to x >= 0. Fails on mismatched sizes, no
// rows, non-finite input, or no convergence in max_iterations.
Result<NnlsSolution> nnls(const Matrix& x, const std::vector<double>& y,
                          std::size_t max_iterations = 0);

// The gradient of -1/2 ||X x - y||^2, X^T (y - X x): at the NNLS optimum it
// is <= 0 where x_j = 0 and ~0 where x_j > 0 (the KKT conditions).
std::vector<double> kkt_gradient(const Matrix& x, const std::vector<double>& y,
                                 const std::vector<double>& coeffs);

// Unconstrained least squares (the same normal equations); for comparison.
Result<std::vector<double>> least_squares(const Matrix& x, const std::vector<double>& y);

// X x for one row.
double predict_row(const Matrix& x, std::size_t row, const std::vector<double>& coeffs);

}  // namespace waypoint::fit
