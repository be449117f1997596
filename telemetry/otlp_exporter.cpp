#include "telemetry/otlp_exporter.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include <httplib.h>

#include "telemetry/otlp_json.hpp"
#include "telemetry/trace_attributes.hpp"

namespace waypoint {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

bool retryable(int status) {
  return status == 429 || status == 502 || status == 503 || status == 504;
}

// Retry-After in seconds (the HTTP-date form is rare from collectors and is ignored).
milliseconds retry_after_of(const httplib::Response& response) {
  if (!response.has_header("Retry-After")) return milliseconds(0);
  const std::string value = response.get_header_value("Retry-After");
  if (value.empty() || value.size() > 6 ||
      !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return milliseconds(0);
  }
  return milliseconds(std::stoll(value) * 1000);
}

}  // namespace

Result<OtlpEndpoint> parse_otlp_endpoint(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return Error{"OTLP endpoint '" + std::string(url) + "' is not a URL (http://host:port)"};
  }
  const std::string_view scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    return Error{"OTLP endpoint '" + std::string(url) +
                 "': only http and https are supported (OTLP/HTTP with JSON)"};
  }
  const size_t host_start = scheme_end + 3;
  const size_t path_start = url.find('/', host_start);
  OtlpEndpoint e;
  e.scheme_host_port = std::string(url.substr(0, path_start));
  if (e.scheme_host_port.size() <= host_start) {
    return Error{"OTLP endpoint '" + std::string(url) + "' names no host"};
  }
  std::string_view prefix = path_start == std::string_view::npos ? "" : url.substr(path_start);
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  if (prefix.find_first_of("?#") != std::string_view::npos) {
    return Error{"OTLP endpoint '" + std::string(url) + "' must not carry a query"};
  }
  e.path = std::string(prefix) + "/v1/traces";
  return e;
}

OtlpExporter::OtlpExporter(OtlpExporterOptions options) : options_(std::move(options)) {
  auto endpoint = parse_otlp_endpoint(options_.endpoint);
  if (!endpoint) throw std::invalid_argument(endpoint.error().message);
  endpoint_ = std::move(*endpoint);
  options_.max_batch_spans = std::max<size_t>(1, options_.max_batch_spans);
  options_.max_attempts = std::max(1, options_.max_attempts);
  client_ = std::make_unique<httplib::Client>(endpoint_.scheme_host_port);
  client_->set_connection_timeout(options_.request_timeout);
  client_->set_read_timeout(options_.request_timeout);
  client_->set_write_timeout(options_.request_timeout);
  client_->set_keep_alive(true);
  jitter_ = mix(reinterpret_cast<uintptr_t>(this) ^
                static_cast<uint64_t>(Clock::now().time_since_epoch().count()));
  thread_ = std::thread([this] { run(); });
}

OtlpExporter::~OtlpExporter() {
  std::unique_lock lock(mutex_);
  closing_ = true;
  close_deadline_ = Clock::now() + options_.shutdown_timeout;
  wake_.notify_all();
  drained_.wait_until(lock, close_deadline_, [&] { return finished_; });
  // A POST to a collector that does not answer would hold the thread for the
  // whole request timeout: cut its socket, again if a POST starts just after.
  while (!finished_) {
    lock.unlock();
    client_->stop();
    lock.lock();
    drained_.wait_for(lock, milliseconds(10), [&] { return finished_; });
  }
  lock.unlock();
  thread_.join();
}

void OtlpExporter::export_spans(std::vector<Span> spans) {
  if (spans.empty()) return;
  const size_t n = spans.size();
  enqueue(Pending{n, std::move(spans), {}, {}});
}

void OtlpExporter::export_deferred(size_t count, MakeSpans make) {
  if (count == 0 || !make) return;
  enqueue(Pending{count, {}, std::move(make), {}});
}

void OtlpExporter::enqueue(Pending pending) {
  {
    std::lock_guard lock(mutex_);
    if (closing_ || queued_spans_ + pending.count > options_.max_queue_spans) {
      dropped_.fetch_add(pending.count, std::memory_order_relaxed);
      return;
    }
    const bool first = queue_.empty();
    pending.at = Clock::now();
    queued_spans_ += pending.count;
    queue_.push_back(std::move(pending));
    // The thread needs waking for the first span (it starts the batch delay)
    // and for a full batch; in between it sleeps until the delay is up.
    if (!first && queued_spans_ < options_.max_batch_spans) return;
  }
  wake_.notify_one();
}

bool OtlpExporter::flush(milliseconds timeout) {
  std::unique_lock lock(mutex_);
  ++flush_waiters_;
  wake_.notify_all();
  const bool done =
      drained_.wait_for(lock, timeout, [&] { return queue_.empty() && in_flight_ == 0; });
  --flush_waiters_;
  return done;
}

void OtlpExporter::run() {
  std::unique_lock lock(mutex_);
  loop(lock);
  finished_ = true;
  drained_.notify_all();
}

void OtlpExporter::loop(std::unique_lock<std::mutex>& lock) {
  while (true) {
    if (queue_.empty()) {
      if (closing_) return;
      wake_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      continue;
    }
    // Until the oldest span has waited the batch delay, unless there is a
    // full batch, a flush or a shutdown.
    wake_.wait_until(lock, queue_.front().at + options_.batch_delay, [&] {
      return closing_ || flush_waiters_ > 0 || queued_spans_ >= options_.max_batch_spans;
    });
    if (queue_.empty()) continue;
    if (closing_ && Clock::now() >= close_deadline_) {
      // Out of time at shutdown: what is left is lost, and said so.
      dropped_.fetch_add(queued_spans_, std::memory_order_relaxed);
      queue_.clear();
      queued_spans_ = 0;
      drained_.notify_all();
      return;
    }
    std::vector<Pending> batch;
    size_t count = 0;
    // Whole items only: a deferred item's spans are not built yet.
    while (!queue_.empty() &&
           (count == 0 || count + queue_.front().count <= options_.max_batch_spans)) {
      count += queue_.front().count;
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    queued_spans_ -= count;
    in_flight_ = count;
    lock.unlock();

    send_batch(std::move(batch), count);

    lock.lock();
    in_flight_ = 0;
    if (queue_.empty()) drained_.notify_all();
  }
}

void OtlpExporter::send_batch(std::vector<Pending> batch, size_t count) {
  std::vector<Span> spans;
  spans.reserve(count);
  for (Pending& p : batch) {
    if (p.make) {
      try {
        std::vector<Span> built = p.make();
        for (Span& s : built) spans.push_back(std::move(s));
        // A builder that made fewer spans than it promised lost the rest.
        if (built.size() < p.count) {
          dropped_.fetch_add(p.count - built.size(), std::memory_order_relaxed);
        }
      } catch (const std::exception&) {
        dropped_.fetch_add(p.count, std::memory_order_relaxed);
      }
    } else {
      for (Span& s : p.spans) spans.push_back(std::move(s));
    }
  }
  if (spans.empty()) return;
  std::string body;
  try {
    body = encode_otlp_traces(spans, options_.resource);
  } catch (const std::exception& e) {
    note_failure(std::string("encoding failed: ") + e.what(), spans.size());
    return;
  }

  std::string failure;
  for (int attempt = 1;; ++attempt) {
    milliseconds retry_after(0);
    const Outcome outcome = post(body, retry_after, failure);
    if (outcome == Outcome::kAccepted) {
      exported_.fetch_add(spans.size(), std::memory_order_relaxed);
      note_success();
      return;
    }
    if (outcome == Outcome::kRejected || attempt >= options_.max_attempts) break;
    const milliseconds wait =
        std::min(std::max(backoff(attempt), retry_after), options_.max_backoff);
    std::unique_lock lock(mutex_);
    // Shutdown cuts the wait short and ends the retries.
    if (wake_.wait_for(lock, wait, [&] { return closing_; })) break;
  }
  note_failure(failure, spans.size());
}

OtlpExporter::Outcome OtlpExporter::post(const std::string& body, milliseconds& retry_after,
                                         std::string& failure) {
  requests_.fetch_add(1, std::memory_order_relaxed);
  httplib::Result result = client_->Post(endpoint_.path, body, "application/json");
  if (!result) {
    failure = "POST " + endpoint_.scheme_host_port + endpoint_.path + ": " +
              httplib::to_string(result.error());
    return Outcome::kRetry;
  }
  const int status = result->status;
  if (status >= 200 && status < 300) return Outcome::kAccepted;
  failure =
      "POST " + endpoint_.scheme_host_port + endpoint_.path + ": HTTP " + std::to_string(status);
  if (!retryable(status)) return Outcome::kRejected;
  retry_after = retry_after_of(*result);
  return Outcome::kRetry;
}

milliseconds OtlpExporter::backoff(int attempt) {
  // initial * 2^(attempt-1), capped, then a random point in its upper half,
  // so exporters that failed together do not retry together.
  const int shift = std::min(attempt - 1, 20);
  const int64_t full =
      std::min<int64_t>(options_.initial_backoff.count() << shift, options_.max_backoff.count());
  jitter_ = mix(jitter_);
  const int64_t half = full / 2;
  return milliseconds(
      half + (half > 0 ? static_cast<int64_t>(jitter_ % static_cast<uint64_t>(half + 1)) : 0));
}

void OtlpExporter::note_failure(const std::string& failure, size_t spans) {
  dropped_.fetch_add(spans, std::memory_order_relaxed);
  if (!failing_ && options_.log != nullptr) {
    options_.log->warn("OTLP export failing, spans are dropped until it recovers (" + failure +
                       ")");
  }
  failing_ = true;
}

void OtlpExporter::note_success() {
  if (failing_ && options_.log != nullptr) options_.log->info("OTLP export recovered");
  failing_ = false;
}

OtlpExporterOptions process_exporter_options(std::string endpoint, const std::string& process,
                                             const Logger& log) {
  OtlpExporterOptions options;
  options.endpoint = std::move(endpoint);
  options.resource = {{std::string(attr::kServiceName), std::string("waypoint")},
                      {std::string(attr::kServiceInstanceId), process}};
  options.log = &log;
  return options;
}

}  // namespace waypoint
