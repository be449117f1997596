#include "perf/residual_plot.hpp"

#include <algorithm>
#include <cmath>

namespace waypoint::fit {

namespace {

constexpr png::Rgb kFrame{0, 0, 0};
constexpr png::Rgb kZero{160, 160, 160};
constexpr png::Rgb kTrain{31, 119, 180};
constexpr png::Rgb kHoldout{255, 127, 14};
constexpr int kMargin = 20;

}  // namespace

PlotRange plot_range(const std::vector<PlotPoint>& points) {
  PlotRange r;
  bool any = false;
  double y_abs = 0;
  for (const PlotPoint& p : points) {
    if (!std::isfinite(p.predicted) || !std::isfinite(p.residual)) continue;
    if (!any) {
      r.x_min = r.x_max = p.predicted;
      any = true;
    }
    r.x_min = std::min(r.x_min, p.predicted);
    r.x_max = std::max(r.x_max, p.predicted);
    y_abs = std::max(y_abs, std::abs(p.residual));
  }
  if (!any) return PlotRange{};
  const double pad = std::max((r.x_max - r.x_min) * 0.05, 1e-9);
  r.x_min -= pad;
  r.x_max += pad;
  y_abs = std::max(y_abs * 1.05, 1e-9);
  r.y_min = -y_abs;
  r.y_max = y_abs;
  return r;
}

png::Image residual_plot(const std::vector<PlotPoint>& points, std::uint32_t width,
                         std::uint32_t height) {
  png::Image image(width, height);
  const int left = kMargin, top = kMargin;
  const int right = static_cast<int>(width) - kMargin - 1;
  const int bottom = static_cast<int>(height) - kMargin - 1;
  if (right <= left || bottom <= top) return image;
  const PlotRange r = plot_range(points);

  const auto to_x = [&](double v) {
    return left +
           static_cast<int>(std::lround((v - r.x_min) / (r.x_max - r.x_min) * (right - left)));
  };
  const auto to_y = [&](double v) {
    return bottom -
           static_cast<int>(std::lround((v - r.y_min) / (r.y_max - r.y_min) * (bottom - top)));
  };

  const int zero = to_y(0.0);
  for (int x = left; x <= right; ++x) image.set(x, zero, kZero);
  for (int x = left; x <= right; ++x) {
    image.set(x, top, kFrame);
    image.set(x, bottom, kFrame);
  }
  for (int y = top; y <= bottom; ++y) {
    image.set(left, y, kFrame);
    image.set(right, y, kFrame);
  }
  // Training points first, so the holdout (what the report's figures are
  // about) stays visible where they overlap.
  for (bool holdout : {false, true}) {
    for (const PlotPoint& p : points) {
      if (p.holdout != holdout || !std::isfinite(p.predicted) || !std::isfinite(p.residual)) {
        continue;
      }
      const int cx = to_x(p.predicted), cy = to_y(p.residual);
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) image.set(cx + dx, cy + dy, holdout ? kHoldout : kTrain);
      }
    }
  }
  return image;
}

}  // namespace waypoint::fit
