#pragma once
// Sends finished spans to an OpenTelemetry collector over OTLP/HTTP with the
// JSON encoding (POST {endpoint}/v1/traces, Content-Type: application/json),
// docs/opentelemetry.md. The callers are a token path and a step loop, so handing a
// span over never blocks: it takes a short lock to queue it, and the queue is
// bounded; a span that finds it full is dropped and counted. One thread
// batches, encodes and posts, retrying what the OTLP specification calls
// retryable (no connection, 429, 502, 503, 504) with exponential backoff;
// a batch that still fails is dropped and counted.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/log.hpp"
#include "base/result.hpp"
#include "telemetry/otlp_span.hpp"

namespace httplib {
class Client;
}

namespace waypoint {

// "http://host:port/prefix" split for the HTTP client.
struct OtlpEndpoint {
  std::string scheme_host_port;  // "http://host:port"
  std::string path;              // "/prefix/v1/traces"
};

// The traces URL for a base `--otlp-traces-endpoint` URL, as the OTLP
// exporter specification builds it: the base plus "/v1/traces". Only http and
// https are accepted.
Result<OtlpEndpoint> parse_otlp_endpoint(std::string_view url);

struct OtlpExporterOptions {
  std::string endpoint;                             // base URL, see parse_otlp_endpoint
  SpanAttributes resource;                          // the process: service.name, ...
  size_t max_queue_spans = 4096;                    // spans waiting to be sent; beyond, dropped
  size_t max_batch_spans = 512;                     // spans per POST
  std::chrono::milliseconds batch_delay{500};       // how long a partial batch waits for company
  std::chrono::milliseconds request_timeout{5000};  // connect, write and read, each
  int max_attempts = 5;                             // per batch, the first one included
  std::chrono::milliseconds initial_backoff{100};   // doubles per retry, with jitter
  std::chrono::milliseconds max_backoff{5000};
  // On destruction: how long queued spans may take to go out; the rest are
  // dropped, and a POST still in flight is cut off.
  std::chrono::milliseconds shutdown_timeout{2000};
  const Logger* log = nullptr;  // export failures and recoveries, once each
};

// What each Waypoint process exports with: `endpoint`, and a resource naming
// the service ("waypoint") and the process ("frontend-0", "engine-0").
OtlpExporterOptions process_exporter_options(std::string endpoint, const std::string& process,
                                             const Logger& log);

class OtlpExporter final : public SpanSink {
 public:
  // Throws std::invalid_argument for an endpoint parse_otlp_endpoint refuses.
  explicit OtlpExporter(OtlpExporterOptions options);
  ~OtlpExporter();
  OtlpExporter(const OtlpExporter&) = delete;
  OtlpExporter& operator=(const OtlpExporter&) = delete;

  void export_spans(std::vector<Span> spans);
  // Built on the exporter's thread.
  void export_deferred(size_t count, MakeSpans make) override;

  // Spans lost: the queue was full, the collector refused them or never
  // answered after every retry, or they were still queued at shutdown.
  uint64_t dropped() const override { return dropped_.load(std::memory_order_relaxed); }
  // Spans the collector accepted.
  uint64_t exported() const { return exported_.load(std::memory_order_relaxed); }
  // POSTs made, retries included.
  uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }

  // Sends what is queued now without waiting for a full batch, and waits
  // until it is sent or given up (tests, shutdown). False on timeout.
  bool flush(std::chrono::milliseconds timeout);

 private:
  struct Pending {
    size_t count = 0;
    std::vector<Span> spans;
    MakeSpans make;                            // set: build the spans when sending
    std::chrono::steady_clock::time_point at;  // when it was queued
  };
  enum class Outcome { kAccepted, kRetry, kRejected };

  void enqueue(Pending pending);
  void run();
  void loop(std::unique_lock<std::mutex>& lock);  // until closed and drained or out of time
  void send_batch(std::vector<Pending> batch, size_t count);
  // One POST; `retry_after` is set from the answer's Retry-After, if any.
  Outcome post(const std::string& body, std::chrono::milliseconds& retry_after,
               std::string& failure);
  std::chrono::milliseconds backoff(int attempt);
  void note_failure(const std::string& failure, size_t spans);
  void note_success();

  OtlpExporterOptions options_;
  OtlpEndpoint endpoint_;
  std::unique_ptr<httplib::Client> client_;  // the thread's; stop() may come from anywhere

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable drained_;
  std::deque<Pending> queue_;
  size_t queued_spans_ = 0;
  size_t in_flight_ = 0;  // spans taken off the queue and not yet settled
  int flush_waiters_ = 0;
  bool closing_ = false;
  bool finished_ = false;  // the thread is done
  std::chrono::steady_clock::time_point close_deadline_;

  bool failing_ = false;  // the thread's: the last batch failed (logged once)
  uint64_t jitter_ = 0;   // the thread's
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> exported_{0};
  std::atomic<uint64_t> requests_{0};
  std::thread thread_;
};

}  // namespace waypoint
