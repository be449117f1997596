#pragma once
// A SpanSink for tests: it keeps what a recorder hands over and builds the
// spans on demand, as the exporter's thread would.
#include <cstddef>
#include <utility>
#include <vector>

#include "telemetry/otlp_span.hpp"

namespace waypoint::testing {

class ListSink final : public SpanSink {
 public:
  void export_deferred(size_t count, MakeSpans make) override {
    promised_ += count;
    pending_.push_back(std::move(make));
  }
  std::vector<Span> spans() const {
    std::vector<Span> out;
    for (const auto& make : pending_) {
      for (Span& s : make()) out.push_back(std::move(s));
    }
    return out;
  }
  size_t promised() const { return promised_; }

 private:
  size_t promised_ = 0;
  std::vector<MakeSpans> pending_;
};

}  // namespace waypoint::testing
