// OpenTelemetry end to end (docs/architecture.md, "Observability"): a real `waypoint serve`
// exporting OTLP/HTTP JSON to OpenTelemetry's own TestCollector (npm
// @opentelemetry/contrib-test-utils, run by tests/serve/js/otlp_collector.mjs),
// checked on what the collector received: the client's trace continued,
// llm_core under llm_request, sampling that keeps both spans or neither, and
// a receiver that is down or slow costing requests nothing.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "proto/event_hub_frame.hpp"
#include "telemetry/trace_attributes.hpp"
#include "tests/closed_port.hpp"
#include "tests/launcher/hub_test_support.hpp"
#include "tests/serve/http_client.hpp"
#include "tests/serve/serve_process.hpp"
#include "tests/serve/test_server.hpp"
#include "tests/wait_for.hpp"

namespace waypoint::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

bool have_node() { return std::string(WAYPOINT_NODE).find("NOTFOUND") == std::string::npos; }

// tests/serve/js/otlp_collector.mjs as a child process: started on ephemeral
// loopback ports, and always stopped and reaped.
class Collector {
 public:
  explicit Collector(std::vector<std::string> extra = {}) {
    int out[2];
    int in[2];
    if (::pipe(out) != 0 || ::pipe(in) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::close(in[0]);
      ::close(in[1]);
      ::close(out[0]);
      ::close(out[1]);
      std::vector<std::string> args{
          WAYPOINT_NODE, std::string(WAYPOINT_JS_DIR) + "/otlp_collector.mjs", WAYPOINT_NPM_PREFIX};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(WAYPOINT_NODE, argv.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    // The first line says where it listens.
    std::string line;
    const auto deadline = Clock::now() + 30s;
    while (line.find('\n') == std::string::npos && Clock::now() < deadline) {
      pollfd p{out[0], POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[512];
      const ssize_t n = ::read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
    ::close(out[0]);
    const json j = json::parse(line.substr(0, line.find('\n')), nullptr, false);
    if (j.is_object()) {
      url_ = j.value("url", "");
      const std::string control = j.value("control", "");
      control_port_ = static_cast<uint16_t>(std::stoi(control.substr(control.rfind(':') + 1)));
    }
  }
  ~Collector() {
    if (stdin_ >= 0) ::close(stdin_);  // it exits when stdin closes
    if (pid_ <= 0) return;
    const auto deadline = Clock::now() + 5s;
    while (Clock::now() < deadline) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(10ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  bool ready() const { return !url_.empty() && control_port_ != 0; }
  const std::string& url() const { return url_; }

  json spans() const {
    auto reply = http_call(control_port_, "GET", "/spans");
    if (!reply || reply->status != 200) return json::array();
    return json::parse(reply->body, nullptr, false);
  }
  json stats() const {
    auto reply = http_call(control_port_, "GET", "/stats");
    if (!reply || reply->status != 200) return json::object();
    return json::parse(reply->body, nullptr, false);
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  std::string url_;
  uint16_t control_port_ = 0;
};

// An OTLP attribute list as a map from key to its AnyValue.
std::map<std::string, json> attrs(const json& list) {
  std::map<std::string, json> out;
  for (const auto& kv : list) out[kv["key"].get<std::string>()] = kv["value"];
  return out;
}

std::string str_attr(const json& span, const std::string& key) {
  auto a = attrs(span["attributes"]);
  return a.count(key) ? a[key].value("stringValue", "") : "";
}

std::vector<std::string> event_names(const json& span) {
  std::vector<std::string> out;
  for (const auto& e : span["events"]) out.push_back(e["name"].get<std::string>());
  return out;
}

// The spans of one engine request: llm_request and llm_core, by gen_ai.request.id.
struct RequestSpans {
  std::vector<json> request;
  std::vector<json> core;
};

std::map<std::string, RequestSpans> by_request(const json& spans) {
  std::map<std::string, RequestSpans> out;
  for (const auto& s : spans) {
    const std::string id = str_attr(s, std::string(attr::kGenAiRequestId));
    if (s["name"] == span_name::kLlmRequest) out[id].request.push_back(s);
    if (s["name"] == span_name::kLlmCore) out[id].core.push_back(s);
  }
  return out;
}

// A completion; `headers` are extra request header lines. Returns its id.
std::string complete(uint16_t port, const json& body, const std::string& headers = "") {
  auto reply = http_call(port, "POST", "/v1/completions", body.dump(), headers);
  if (!reply || reply->status != 200) {
    ADD_FAILURE() << "completion failed: " << (reply ? reply->body : "no reply");
    return "";
  }
  return json::parse(reply->body).value("id", "");
}

constexpr std::string_view kClientTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr std::string_view kClientSpan = "00f067aa0ba902b7";

TEST(OtlpEndToEnd, TheClientsTraceIsContinuedAndLlmCoreIsTheChildOfLlmRequest) {
  if (!have_node()) GTEST_SKIP() << "node is not installed (scripts/setup installs it)";
  Collector collector;
  ASSERT_TRUE(collector.ready());
  // No --enable-journey-tracing: an OTLP endpoint turns it on.
  auto server = start({"--otlp-traces-endpoint", collector.url()});
  ASSERT_NE(server.port, 0);

  const std::string traced =
      complete(server.port, {{"prompt", "hello there"}, {"max_tokens", 5}, {"ignore_eos", true}},
               "traceparent: 00-" + std::string(kClientTrace) + "-" + std::string(kClientSpan) +
                   "-01\r\ntracestate: vendor=opaque\r\n");
  const std::string fresh = complete(server.port, {{"prompt", "hi"}, {"max_tokens", 3}});
  // Upper-case hex breaks the rules: a new trace, not the client's.
  const std::string invalid =
      complete(server.port, {{"prompt", "hi"}, {"max_tokens", 3}},
               "traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01\r\n");
  // A client that hangs up mid-stream: ABORTED comes before the core's FINISHED.
  // It asks for far more tokens than the engine makes before the frontend
  // notices the hang-up, so it cannot finish by length first.
  std::string hung_up;
  {
    HttpConnection c(server.port);
    ASSERT_TRUE(c.send_request(
        "POST", "/v1/completions",
        json{{"prompt", "go on"}, {"max_tokens", 2000}, {"ignore_eos", true}, {"stream", true}}
            .dump()));
    ASSERT_TRUE(c.read_head());
    auto chunk = c.read_chunk();
    ASSERT_TRUE(chunk);
    const json first = json::parse(chunk->substr(chunk->find('{')), nullptr, false);
    hung_up = first.value("id", "");
  }
  ASSERT_FALSE(hung_up.empty());

  std::map<std::string, RequestSpans> got;
  ASSERT_TRUE(wait_for(
      [&] {
        got = by_request(collector.spans());
        for (const auto& id : {traced, fresh, invalid, hung_up}) {
          if (got[id].request.size() != 1 || got[id].core.size() != 1) return false;
        }
        return true;
      },
      30s))
      << collector.spans().dump(1) << "\n"
      << server.process->log();

  const json& req = got[traced].request[0];
  const json& core = got[traced].core[0];
  EXPECT_EQ(req["traceId"], kClientTrace);
  EXPECT_EQ(req["parentSpanId"], kClientSpan);
  EXPECT_EQ(req["traceState"], "vendor=opaque");
  EXPECT_EQ(req["kind"], 2);  // SERVER
  EXPECT_EQ(req["instrumentationScope"]["name"], scope_name::kApi);
  EXPECT_EQ(attrs(req["resource"]["attributes"])["service.name"]["stringValue"], "waypoint");
  EXPECT_EQ(core["traceId"], kClientTrace);
  EXPECT_EQ(core["parentSpanId"], req["spanId"]);
  EXPECT_EQ(core["kind"], 1);  // INTERNAL
  EXPECT_EQ(core["instrumentationScope"]["name"], scope_name::kScheduler);

  EXPECT_EQ(event_names(req),
            (std::vector<std::string>{"api.ARRIVED", "api.HANDOFF_TO_CORE",
                                      "api.FIRST_RESPONSE_FROM_CORE", "api.DEPARTED"}));
  const auto core_events = event_names(core);
  ASSERT_GE(core_events.size(), 4u);
  EXPECT_EQ(core_events.front(), "journey.QUEUED");
  EXPECT_EQ(core_events.back(), "journey.FINISHED");
  const auto scheduled = attrs(core["events"][1]["attributes"]);
  EXPECT_EQ(core["events"][1]["name"], "journey.SCHEDULED");
  EXPECT_EQ(scheduled.at("scheduler.step")["intValue"], "1");
  EXPECT_EQ(scheduled.at("schedule.kind")["stringValue"], "FIRST");
  EXPECT_TRUE(scheduled.count("prefill.done_tokens"));
  EXPECT_TRUE(scheduled.count("phase"));

  auto a = attrs(req["attributes"]);
  EXPECT_EQ(a["gen_ai.response.model"]["stringValue"], "tiny");
  EXPECT_EQ(a["gen_ai.request.max_tokens"]["intValue"], "5");
  EXPECT_EQ(a["gen_ai.usage.completion_tokens"]["intValue"], "5");
  EXPECT_EQ(a["gen_ai.request.n"]["intValue"], "1");
  EXPECT_TRUE(a.count("gen_ai.usage.prompt_tokens"));
  EXPECT_TRUE(a.count("gen_ai.request.temperature"));
  EXPECT_TRUE(a.count("gen_ai.request.top_p"));
  for (const char* latency : {"gen_ai.latency.time_to_first_token", "gen_ai.latency.e2e",
                              "gen_ai.latency.time_in_queue"}) {
    ASSERT_TRUE(a.count(latency)) << latency;
    EXPECT_GE(a[latency]["doubleValue"].get<double>(), 0.0) << latency;
  }
  // Times are nanosecond strings; llm_core lies within llm_request.
  const auto ns = [](const json& v) { return std::stoll(v.get<std::string>()); };
  EXPECT_LE(ns(req["startTimeUnixNano"]), ns(core["startTimeUnixNano"]));
  EXPECT_LE(ns(core["endTimeUnixNano"]), ns(req["endTimeUnixNano"]));

  for (const auto& id : {fresh, invalid}) {
    const json& r = got[id].request[0];
    EXPECT_FALSE(r.contains("parentSpanId")) << id;  // a root: the trace starts here
    EXPECT_NE(r["traceId"], kClientTrace) << id;
    EXPECT_EQ(got[id].core[0]["traceId"], r["traceId"]) << id;
    EXPECT_EQ(got[id].core[0]["parentSpanId"], r["spanId"]) << id;
  }
  EXPECT_NE(got[fresh].request[0]["traceId"], got[invalid].request[0]["traceId"]);

  const json& aborted = got[hung_up].request[0];
  EXPECT_EQ(event_names(aborted).back(), "api.ABORTED");
  EXPECT_EQ(aborted["status"]["code"], 2);
  EXPECT_EQ(event_names(got[hung_up].core[0]).back(), "journey.FINISHED");
}

// Every traced request per the event hub: its id, and whether both its
// halves (DEPARTED or ABORTED, and FINISHED) have been published.
std::map<std::string, bool> hub_journeys(const std::string& replay_endpoint) {
  zmq::context_t context(1);
  Replay r = replay_from(context, replay_endpoint, 0);
  std::map<std::string, int> ends;
  for (const auto& f : r.frames) {
    if (f.topic != kTopicJourney) continue;
    auto payload = decode_hub_payload(f.payload);
    if (!payload) continue;
    for (const auto& e : payload->events) {
      const auto id = std::get<std::string>(*e.find(attr::kRequestId));
      const auto type = std::get<std::string>(*e.find(attr::kEventType));
      ends[id] += type == event_name::kDeparted || type == event_name::kAborted ||
                  type == event_name::kFinished;
    }
  }
  std::map<std::string, bool> out;
  for (const auto& [id, n] : ends) out[id] = n == 2;
  return out;
}

TEST(OtlpEndToEnd, SamplingKeepsBothSpansOrNeither) {
  if (!have_node()) GTEST_SKIP() << "node is not installed (scripts/setup installs it)";
  Collector collector;
  ASSERT_TRUE(collector.ready());
  auto server = start({"--otlp-traces-endpoint", collector.url(), "--journey-tracing-sample-rate",
                       "0.5", "--seed", "7", "--event-buffer", "100000"});
  ASSERT_NE(server.port, 0);
  const auto hub = server.process->event_endpoints();
  ASSERT_TRUE(hub);

  std::vector<std::string> ids(200);
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      for (size_t i = static_cast<size_t>(t); i < ids.size(); i += 8) {
        ids[i] = complete(server.port, {{"prompt", "hello"}, {"max_tokens", 2}});
      }
    });
  }
  for (auto& c : clients) c.join();

  // The hub's journey events say which requests were sampled.
  std::set<std::string> sampled;
  ASSERT_TRUE(wait_for(
      [&] {
        const auto journeys = hub_journeys(hub->second);
        sampled.clear();
        for (const auto& j : journeys) sampled.insert(j.first);
        return std::all_of(journeys.begin(), journeys.end(),
                           [](const auto& j) { return j.second; });
      },
      20s));

  std::map<std::string, RequestSpans> got;
  ASSERT_TRUE(wait_for(
      [&] {
        got = by_request(collector.spans());
        return std::all_of(sampled.begin(), sampled.end(),
                           [&](const auto& id) { return got[id].core.size() == 1; });
      },
      30s))
      << "spans of sampled requests missing";
  std::this_thread::sleep_for(1s);  // anything unexpected still on its way
  got = by_request(collector.spans());

  size_t traced = 0;
  for (const auto& id : ids) {
    ASSERT_FALSE(id.empty());
    const auto it = got.find(id);
    const bool has_spans = it != got.end();
    EXPECT_EQ(has_spans, sampled.count(id) == 1) << id;
    if (!has_spans) continue;
    ++traced;
    // Both spans, once each, linked.
    ASSERT_EQ(it->second.request.size(), 1u) << id;
    ASSERT_EQ(it->second.core.size(), 1u) << id;
    EXPECT_EQ(it->second.core[0]["traceId"], it->second.request[0]["traceId"]);
    EXPECT_EQ(it->second.core[0]["parentSpanId"], it->second.request[0]["spanId"]);
  }
  EXPECT_EQ(got.size(), traced);  // no span of anything else
  // Binomial(200, 0.5): 100 +- 7; these bounds fail once in ~10^12 runs.
  EXPECT_GT(traced, 50u);
  EXPECT_LT(traced, 150u);
}

TEST(OtlpEndToEnd, EveryRequestsSpansGoOutUnderPreemptionStopsAndHangUps) {
  if (!have_node()) GTEST_SKIP() << "node is not installed (scripts/setup installs it)";
  Collector collector;
  ASSERT_TRUE(collector.ready());
  // 47 usable KV blocks for 24 requests of up to ~100 tokens: preemption.
  auto server =
      start({"--otlp-traces-endpoint", collector.url(), "--num-gpu-blocks-override", "48",
             "--max-num-seqs", "24", "--max-model-len", "256", "--event-buffer", "500000"});
  ASSERT_NE(server.port, 0);
  const auto hub = server.process->event_endpoints();
  ASSERT_TRUE(hub);

  constexpr int kThreads = 24;
  constexpr int kPerThread = 8;
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      std::mt19937 rng(100 + t);
      for (int i = 0; i < kPerThread; ++i) {
        json ids = json::array();
        for (int k = 0, n = 8 + static_cast<int>(rng() % 48); k < n; ++k) {
          ids.push_back(10 + static_cast<int>(rng() % 400));
        }
        const int kind = (t * kPerThread + i) % 6;
        json body{{"prompt", ids},
                  {"max_tokens", 4 + static_cast<int>(rng() % 40)},
                  {"ignore_eos", true},
                  {"stream", kind == 0 || kind == 3}};
        if (kind == 2) body["prompt"] = json::array({ids, ids});     // two prompts, one trace
        if (kind == 3) body["stop"] = json::array({"e", "a", "o"});  // DEPARTED before FINISHED
        HttpConnection c(server.port);
        ASSERT_TRUE(c.send_request("POST", "/v1/completions", body.dump()));
        if (kind == 1) continue;  // hangs up at once
        if (kind == 0) {          // hangs up mid-stream
          ASSERT_TRUE(c.read_head());
          c.read_chunk();
          continue;
        }
        auto reply = c.read_reply();
        ASSERT_TRUE(reply);
        EXPECT_EQ(reply->status, 200) << reply->body;
      }
    });
  }
  for (auto& c : clients) c.join();

  std::map<std::string, bool> journeys;
  ASSERT_TRUE(wait_for(
      [&] {
        journeys = hub_journeys(hub->second);
        return !journeys.empty() && std::all_of(journeys.begin(), journeys.end(),
                                                [](const auto& j) { return j.second; });
      },
      30s));
  std::map<std::string, RequestSpans> got;
  const bool all_out = wait_for(
      [&] {
        got = by_request(collector.spans());
        return std::all_of(journeys.begin(), journeys.end(),
                           [&](const auto& j) { return got[j.first].core.size() == 1; });
      },
      30s);
  size_t missing = 0;
  for (const auto& [id, ended] : journeys) missing += got[id].core.size() != 1;
  ASSERT_TRUE(all_out) << missing << " of " << journeys.size() << " requests have no spans";
  EXPECT_EQ(got.size(), journeys.size());
  size_t preempted = 0;
  for (const auto& [id, spans] : got) {
    ASSERT_EQ(spans.request.size(), 1u) << id;
    ASSERT_EQ(spans.core.size(), 1u) << id;
    EXPECT_EQ(spans.core[0]["parentSpanId"], spans.request[0]["spanId"]) << id;
    EXPECT_EQ(event_names(spans.core[0]).back(), "journey.FINISHED") << id;
    const auto api = event_names(spans.request[0]);
    EXPECT_TRUE(api.back() == "api.DEPARTED" || api.back() == "api.ABORTED") << id;
    const auto core = event_names(spans.core[0]);
    preempted += std::count(core.begin(), core.end(), "journey.PREEMPTED") > 0;
  }
  EXPECT_GT(preempted, 0u) << "the workload was meant to preempt";
}

// Latency of `count` completions from `threads` clients, in ms.
// waypoint:otlp_spans_dropped_total for one producer ("frontend-0", "engine-0").
double spans_dropped(uint16_t port, const std::string& producer) {
  auto reply = http_call(port, "GET", "/metrics");
  if (!reply) return -1;
  const std::regex line(R"(waypoint:otlp_spans_dropped_total\{[^}]*producer=")" + producer +
                        R"("[^}]*\} ([0-9.e+]+))");
  std::smatch m;
  if (!std::regex_search(reply->body, m, line)) return -1;
  return std::stod(m[1]);
}

double frontend_spans_dropped(uint16_t port) { return spans_dropped(port, "frontend-0"); }

// Step spans (docs/architecture.md, "Observability"): with --step-tracing-closure-interval 10, one
// scheduler_steps span per window of 10 steps, in scope vllm.scheduler.step,
// carrying each sampled step's BATCH_SUMMARY (and the rich steps' snapshots)
// as span events, and closed once the loop is past its window.
TEST(OtlpEndToEnd, StepSpansCoverOneClosureIntervalEach) {
  if (!have_node()) GTEST_SKIP() << "node is not installed (scripts/setup installs it)";
  Collector collector;
  ASSERT_TRUE(collector.ready());
  auto server = start({"--otlp-traces-endpoint", collector.url(), "--step-tracing-enabled",
                       "--step-tracing-sample-rate", "1", "--step-tracing-rich-subsample-rate",
                       "0.5", "--step-tracing-closure-interval", "10"});
  ASSERT_NE(server.port, 0);
  for (int i = 0; i < 4; ++i) {
    complete(server.port, {{"prompt", "count the steps"}, {"max_tokens", 12}, {"ignore_eos", true}});
  }
  const auto last_step = static_cast<int64_t>(metric(server.port, "waypoint:scheduler_step"));
  ASSERT_GE(last_step, 20);
  const int64_t closed_windows = last_step / 10;  // windows whose last step has run
  std::vector<json> steps;
  ASSERT_TRUE(wait_for(
      [&] {
        steps.clear();
        for (const auto& s : collector.spans()) {
          if (s["name"] == span_name::kSchedulerSteps) steps.push_back(s);
        }
        return static_cast<int64_t>(steps.size()) >= closed_windows;
      },
      20s))
      << steps.size() << " step spans for " << last_step << " steps";

  std::set<int64_t> summarized;
  size_t snapshots = 0;
  for (const json& span : steps) {
    EXPECT_EQ(span["instrumentationScope"]["name"], scope_name::kSchedulerStep);
    auto a = attrs(span["attributes"]);
    const int64_t first = std::stoll(a[std::string(attr::kStepSpanFirst)]["intValue"].get<std::string>());
    const int64_t last = std::stoll(a[std::string(attr::kStepSpanLast)]["intValue"].get<std::string>());
    EXPECT_EQ((first - 1) % 10, 0) << first;
    EXPECT_EQ(last, first + 9);
    for (const json& e : span["events"]) {
      auto ea = attrs(e["attributes"]);
      const int64_t step = std::stoll(ea[std::string(attr::kStepId)]["intValue"].get<std::string>());
      EXPECT_GE(step, first);
      EXPECT_LE(step, last);
      if (e["name"] == event_name::kBatchSummary) {
        EXPECT_TRUE(summarized.insert(step).second) << "step " << step << " twice";
        EXPECT_TRUE(ea.count(std::string(attr::kStepDurationUs)));
      } else {
        EXPECT_EQ(e["name"], event_name::kRequestSnapshot);
        ++snapshots;
      }
    }
  }
  // At rate 1.0 every step of every closed window is on its span.
  for (int64_t step = 1; step <= closed_windows * 10; ++step) {
    EXPECT_TRUE(summarized.count(step)) << "step " << step << " missing";
  }
  EXPECT_GT(snapshots, 0u);
  EXPECT_EQ(spans_dropped(server.port, "engine-0"), 0);
}

std::vector<double> latencies(uint16_t port, int threads, int count) {
  std::vector<double> out(static_cast<size_t>(count));
  std::atomic<int> next{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < threads; ++t) {
    clients.emplace_back([&] {
      for (int i = next++; i < count; i = next++) {
        const auto t0 = Clock::now();
        complete(port, {{"prompt", "the receiver should not matter"},
                        {"max_tokens", 8},
                        {"ignore_eos", true}});
        out[static_cast<size_t>(i)] =
            std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      }
    });
  }
  for (auto& c : clients) c.join();
  return out;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

TEST(OtlpEndToEnd, AReceiverThatIsDownOrSlowDoesNotSlowRequests) {
  if (!have_node()) GTEST_SKIP() << "node is not installed (scripts/setup installs it)";
  Collector healthy;
  Collector slow({"--delay-ms", "3000"});
  ASSERT_TRUE(healthy.ready() && slow.ready());
  struct Case {
    const char* name;
    std::string url;
    Server server;
    std::vector<double> ms;
  };
  std::vector<Case> cases;
  cases.push_back({"healthy", healthy.url(), {}, {}});
  cases.push_back({"down", closed_port_url(), {}, {}});
  cases.push_back({"slow", slow.url(), {}, {}});
  for (auto& c : cases) {
    c.server = start({"--otlp-traces-endpoint", c.url});
    ASSERT_NE(c.server.port, 0) << c.name;
    latencies(c.server.port, 2, 20);  // warm up
  }
  // Interleaved rounds, so drift on a shared machine hits every case alike.
  constexpr int kRounds = 5;
  constexpr int kPerRound = 60;
  for (int round = 0; round < kRounds; ++round) {
    for (auto& c : cases) {
      auto ms = latencies(c.server.port, 4, kPerRound);
      c.ms.insert(c.ms.end(), ms.begin(), ms.end());
    }
  }
  for (const auto& c : cases) {
    const double mean =
        std::accumulate(c.ms.begin(), c.ms.end(), 0.0) / static_cast<double>(c.ms.size());
    std::printf("otlp receiver %-7s: %zu requests, mean %.2f ms, p50 %.2f ms, p99 %.2f ms\n",
                c.name, c.ms.size(), mean, percentile(c.ms, 0.5), percentile(c.ms, 0.99));
  }
  // Generous: a blocked exporter would add seconds (the slow receiver holds
  // every POST for 3 s; a dead one costs retries with backoff).
  const double healthy_p50 = percentile(cases[0].ms, 0.5);
  for (size_t i = 1; i < cases.size(); ++i) {
    EXPECT_LT(percentile(cases[i].ms, 0.5), 3 * healthy_p50 + 50) << cases[i].name;
    EXPECT_LT(percentile(cases[i].ms, 0.99), 1000) << cases[i].name;
  }
  // The healthy receiver got the spans; the slow one is behind; for the dead
  // one the exporter retried, gave up and said so, once.
  EXPECT_TRUE(wait_for([&] { return healthy.stats().value("spans", 0) > 0; }, 10s));
  std::printf("slow receiver: %d POSTs received so far\n", slow.stats().value("requests", 0));
  EXPECT_TRUE(wait_for(
      [&] {
        return cases[1].server.process->log().find("OTLP export failing") != std::string::npos;
      },
      20s))
      << cases[1].server.process->log();
  for (const auto& c : cases) {
    std::printf("otlp receiver %-7s: frontend spans dropped %.0f\n", c.name,
                frontend_spans_dropped(c.server.port));
  }
  EXPECT_GT(frontend_spans_dropped(cases[1].server.port), 0);
}

}  // namespace
}  // namespace waypoint::testing
