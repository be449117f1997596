// The OTLP/HTTP exporter against a real HTTP server in the test process:
// batching, retry with backoff, what is dropped and counted, and that handing
// spans over never waits on the collector.
#include "telemetry/otlp_exporter.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/closed_port.hpp"
#include "tests/wait_for.hpp"

namespace waypoint {
namespace {

using ::waypoint::testing::closed_port_url;
using ::waypoint::testing::wait_for;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A collector on an ephemeral port of 127.0.0.1 that records every POST and
// answers with the statuses it is told, in order (200 once they run out),
// after an optional delay that release() cuts short.
class FakeCollector {
 public:
  struct Post {
    std::string path;
    std::string content_type;
    size_t spans = 0;
    Clock::time_point at;
  };

  FakeCollector() {
    server_.Post(R"(.*)", [this](const httplib::Request& req, httplib::Response& res) {
      std::chrono::milliseconds delay;
      int status = 200;
      std::string retry_after;
      {
        std::lock_guard lock(mutex_);
        delay = delay_;
        if (!statuses_.empty()) {
          status = statuses_.front();
          statuses_.pop_front();
        }
        retry_after = retry_after_;
      }
      {
        std::unique_lock lock(mutex_);
        released_.wait_for(lock, delay, [&] { return released; });
      }
      Post p;
      p.path = req.path;
      p.content_type = req.get_header_value("Content-Type");
      p.at = Clock::now();
      const auto body = nlohmann::json::parse(req.body, nullptr, false);
      if (!body.is_discarded()) {
        for (const auto& rs : body["resourceSpans"]) {
          for (const auto& ss : rs["scopeSpans"]) p.spans += ss["spans"].size();
        }
      }
      {
        std::lock_guard lock(mutex_);
        posts_.push_back(p);
      }
      if (!retry_after.empty()) res.set_header("Retry-After", retry_after);
      res.status = status;
      res.set_content("{}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    // Bound and listening already: connections wait in the backlog until
    // the accept loop runs.
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~FakeCollector() {
    {
      std::lock_guard lock(mutex_);
      released = true;
    }
    released_.notify_all();
    server_.stop();
    thread_.join();
  }

  std::string url(const std::string& prefix = "") const {
    return "http://127.0.0.1:" + std::to_string(port_) + prefix;
  }
  void answer(std::vector<int> statuses, std::string retry_after = "") {
    std::lock_guard lock(mutex_);
    statuses_.assign(statuses.begin(), statuses.end());
    retry_after_ = std::move(retry_after);
  }
  void delay(std::chrono::milliseconds d) {
    std::lock_guard lock(mutex_);
    delay_ = d;
  }
  std::vector<Post> posts() const {
    std::lock_guard lock(mutex_);
    return posts_;
  }
  size_t spans() const {
    size_t n = 0;
    for (const Post& p : posts()) n += p.spans;
    return n;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable released_;
  bool released = false;
  std::deque<int> statuses_;
  std::string retry_after_;
  std::chrono::milliseconds delay_{0};
  std::vector<Post> posts_;
};

Span span(uint64_t n) {
  Span s;
  s.scope = "vllm.api";
  s.name = "llm_request";
  s.trace_id = TraceId{1, n};
  s.span_id = SpanId{n};
  s.start_unix_ns = static_cast<int64_t>(n);
  s.end_unix_ns = static_cast<int64_t>(n) + 1;
  return s;
}

std::vector<Span> spans(uint64_t from, size_t count) {
  std::vector<Span> out;
  for (size_t i = 0; i < count; ++i) out.push_back(span(from + i));
  return out;
}

OtlpExporterOptions options(const std::string& url) {
  OtlpExporterOptions o;
  o.endpoint = url;
  o.resource = {{"service.name", std::string("waypoint-test")}};
  o.batch_delay = 10s;  // nothing goes out early unless a batch fills or a test flushes
  o.initial_backoff = 20ms;
  o.max_backoff = 200ms;
  o.request_timeout = 2s;
  o.shutdown_timeout = 500ms;
  return o;
}

TEST(proto_OtlpExporter, TheTracesUrlIsTheBasePlusV1Traces) {
  auto e = parse_otlp_endpoint("http://collector:4318");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->scheme_host_port, "http://collector:4318");
  EXPECT_EQ(e->path, "/v1/traces");
  e = parse_otlp_endpoint("https://otel.example.com/base/");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->scheme_host_port, "https://otel.example.com");
  EXPECT_EQ(e->path, "/base/v1/traces");
  EXPECT_FALSE(parse_otlp_endpoint("collector:4317"));
  EXPECT_FALSE(parse_otlp_endpoint("grpc://collector:4317"));
  EXPECT_FALSE(parse_otlp_endpoint("http://"));
  EXPECT_FALSE(parse_otlp_endpoint("http://host/x?y=1"));
  EXPECT_THROW(OtlpExporter(options("collector:4317")), std::invalid_argument);
}

TEST(proto_OtlpExporter, FullBatchesGoAtOnceAndFlushSendsTheRest) {
  FakeCollector collector;
  OtlpExporterOptions o = options(collector.url("/prefix/"));
  o.max_batch_spans = 4;
  OtlpExporter exporter(o);
  for (uint64_t i = 1; i <= 10; ++i) exporter.export_spans({span(i)});
  // Two full batches need no flush; the last two wait for their delay.
  ASSERT_TRUE(wait_for([&] { return collector.posts().size() == 2; }, 5s));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(collector.posts().size(), 2u);
  ASSERT_TRUE(exporter.flush(5s));
  const auto posts = collector.posts();
  ASSERT_EQ(posts.size(), 3u);
  EXPECT_EQ(posts[0].spans, 4u);
  EXPECT_EQ(posts[1].spans, 4u);
  EXPECT_EQ(posts[2].spans, 2u);
  for (const auto& p : posts) {
    EXPECT_EQ(p.path, "/prefix/v1/traces");
    EXPECT_EQ(p.content_type, "application/json");  // exactly: collectors refuse anything else
  }
  EXPECT_EQ(exporter.exported(), 10u);
  EXPECT_EQ(exporter.dropped(), 0u);
}

TEST(proto_OtlpExporter, APartialBatchGoesAfterTheBatchDelay) {
  FakeCollector collector;
  OtlpExporterOptions o = options(collector.url());
  o.batch_delay = 100ms;
  OtlpExporter exporter(o);
  std::this_thread::sleep_for(50ms);  // the thread is asleep on an empty queue
  const auto start = Clock::now();
  exporter.export_spans(spans(1, 3));
  ASSERT_TRUE(wait_for([&] { return collector.spans() == 3; }, 5s));
  EXPECT_GE(collector.posts().front().at - start, 90ms);
}

TEST(proto_OtlpExporter, DeferredSpansAreBuiltOnTheExportersThread) {
  FakeCollector collector;
  OtlpExporter exporter(options(collector.url()));
  std::atomic<bool> built_elsewhere{false};
  const auto caller = std::this_thread::get_id();
  exporter.export_deferred(2, [&] {
    built_elsewhere = std::this_thread::get_id() != caller;
    return spans(1, 2);
  });
  // A builder that breaks loses its own spans only.
  exporter.export_deferred(3, []() -> std::vector<Span> { throw std::runtime_error("broken"); });
  ASSERT_TRUE(exporter.flush(5s));
  EXPECT_TRUE(built_elsewhere);
  EXPECT_EQ(collector.spans(), 2u);
  EXPECT_EQ(exporter.dropped(), 3u);
}

TEST(proto_OtlpExporter, RetryableAnswersAreRetriedWithGrowingBackoff) {
  FakeCollector collector;
  collector.answer({503, 502, 504, 429});
  OtlpExporter exporter(options(collector.url()));
  exporter.export_spans(spans(1, 5));
  ASSERT_TRUE(exporter.flush(5s));
  const auto posts = collector.posts();
  ASSERT_EQ(posts.size(), 5u);
  EXPECT_EQ(exporter.requests(), 5u);
  EXPECT_EQ(exporter.exported(), 5u);
  EXPECT_EQ(exporter.dropped(), 0u);
  // Backoff k waits between half and all of 20 ms * 2^(k-1).
  for (size_t k = 1; k < posts.size(); ++k) {
    const auto gap = posts[k].at - posts[k - 1].at;
    EXPECT_GE(gap, std::chrono::milliseconds(10 << (k - 1)) - 2ms) << "retry " << k;
  }
}

TEST(proto_OtlpExporter, RetryAfterIsHonoured) {
  FakeCollector collector;
  collector.answer({429}, "1");
  OtlpExporterOptions o = options(collector.url());
  o.max_backoff = 2s;
  OtlpExporter exporter(o);
  exporter.export_spans(spans(1, 1));
  ASSERT_TRUE(exporter.flush(5s));
  const auto posts = collector.posts();
  ASSERT_EQ(posts.size(), 2u);
  EXPECT_GE(posts[1].at - posts[0].at, 990ms);
  EXPECT_EQ(exporter.exported(), 1u);
}

TEST(proto_OtlpExporter, ARefusalIsNotRetriedAndItsSpansAreCounted) {
  FakeCollector collector;
  collector.answer({400});
  OtlpExporter exporter(options(collector.url()));
  exporter.export_spans(spans(1, 7));
  ASSERT_TRUE(exporter.flush(5s));
  EXPECT_EQ(collector.posts().size(), 1u);
  EXPECT_EQ(exporter.dropped(), 7u);
  EXPECT_EQ(exporter.exported(), 0u);
}

TEST(proto_OtlpExporter, ABatchIsGivenUpAfterMaxAttempts) {
  FakeCollector collector;
  collector.answer({503, 503, 503, 503, 503, 503});
  OtlpExporterOptions o = options(collector.url());
  o.max_attempts = 3;
  OtlpExporter exporter(o);
  exporter.export_spans(spans(1, 4));
  ASSERT_TRUE(exporter.flush(5s));
  EXPECT_EQ(collector.posts().size(), 3u);
  EXPECT_EQ(exporter.dropped(), 4u);
  // The next batch finds the collector well again.
  collector.answer({});
  exporter.export_spans(spans(10, 2));
  ASSERT_TRUE(exporter.flush(5s));
  EXPECT_EQ(exporter.exported(), 2u);
}

TEST(proto_OtlpExporter, NoCollectorListeningMeansRetriesThenDrops) {
  OtlpExporterOptions o = options(closed_port_url());
  o.max_attempts = 3;
  OtlpExporter exporter(o);
  exporter.export_spans(spans(1, 6));
  ASSERT_TRUE(exporter.flush(5s));
  EXPECT_EQ(exporter.requests(), 3u);
  EXPECT_EQ(exporter.dropped(), 6u);
}

TEST(proto_OtlpExporter, AFullQueueDropsAndCountsInsteadOfWaiting) {
  FakeCollector collector;
  OtlpExporterOptions o = options(collector.url());
  o.max_queue_spans = 8;
  o.max_batch_spans = 100;  // never full: nothing leaves before the flush
  OtlpExporter exporter(o);
  for (uint64_t i = 1; i <= 10; ++i) exporter.export_spans({span(i)});
  EXPECT_EQ(exporter.dropped(), 2u);
  exporter.export_spans(spans(20, 5));  // all or nothing for one hand-over
  EXPECT_EQ(exporter.dropped(), 7u);
  ASSERT_TRUE(exporter.flush(5s));
  EXPECT_EQ(collector.spans(), 8u);
  EXPECT_EQ(exporter.exported(), 8u);
}

TEST(proto_OtlpExporter, HandingOverNeverWaitsOnASlowCollector) {
  FakeCollector collector;
  collector.delay(5s);
  OtlpExporterOptions o = options(collector.url());
  o.max_batch_spans = 16;
  o.max_queue_spans = 64;
  o.request_timeout = 10s;
  OtlpExporter exporter(o);
  // The first full batch is stuck at the collector; everything after it
  // queues, then overflows.
  Clock::duration slowest{0};
  for (uint64_t i = 1; i <= 2000; ++i) {
    const auto t0 = Clock::now();
    exporter.export_spans({span(i)});
    slowest = std::max(slowest, Clock::now() - t0);
  }
  EXPECT_LT(slowest, 20ms);
  EXPECT_GE(exporter.dropped(), 2000u - 64u - 16u);
}

TEST(proto_OtlpExporter, ShutdownIsBoundedEvenWithAStuckCollector) {
  FakeCollector collector;
  collector.delay(30s);
  OtlpExporterOptions o = options(collector.url());
  o.request_timeout = 30s;
  o.shutdown_timeout = 200ms;
  o.max_batch_spans = 2;
  auto exporter = std::make_unique<OtlpExporter>(o);
  exporter->export_spans(spans(1, 6));
  ASSERT_TRUE(wait_for([&] { return exporter->requests() == 1; }, 5s));  // stuck in flight
  // Destruction cuts the POST and counts the queue as lost.
  const auto start = Clock::now();
  exporter.reset();
  EXPECT_LT(Clock::now() - start, 1500ms);
}

TEST(proto_OtlpExporter, DestructionSendsWhatIsQueued) {
  FakeCollector collector;
  {
    OtlpExporter exporter(options(collector.url()));
    exporter.export_spans(spans(1, 3));
  }
  EXPECT_EQ(collector.spans(), 3u);
}

}  // namespace
}  // namespace waypoint
