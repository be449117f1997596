#pragma once
// Residual-vs-predicted scatter plots for `waypoint fit`, drawn into a pixel
// buffer (png::Image). There is no text: the axes' ranges are printed in the
// report, and a plot is read for its shape (a funnel, a curve, outliers).
#include <string>
#include <vector>

#include "perf/png_writer.hpp"

namespace waypoint::fit {

struct PlotPoint {
  double predicted = 0;
  double residual = 0;   // observed - predicted
  bool holdout = false;  // drawn in a second colour
};

struct PlotRange {
  double x_min = 0, x_max = 1, y_min = -1, y_max = 1;
};

// The ranges the plot will use: the points' extent with a margin, the y range
// symmetric about 0 so that the zero line is in the middle.
PlotRange plot_range(const std::vector<PlotPoint>& points);

// A width x height plot: a frame, a grey zero-residual line, training points
// in blue and holdout points in orange.
png::Image residual_plot(const std::vector<PlotPoint>& points, std::uint32_t width = 640,
                         std::uint32_t height = 480);

}  // namespace waypoint::fit
