// GET /metrics of a real `waypoint serve`: after requests of known lengths
// the counters say exactly what was sent, for every way a request ends; the
// gauges come back to 0 when idle; promtool reads the exposition; and with two
// frontends on one port, whichever is scraped speaks for both.
#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/frontend/exposition.hpp"
#include "tests/frontend/promtool.hpp"
#include "tests/serve/http_client.hpp"
#include "tests/serve/test_server.hpp"
#include "tests/wait_for.hpp"

namespace waypoint::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

struct Scrape {
  std::string text;
  std::vector<Sample> samples;

  // The sample of `name` with these labels besides model_name and engine; -1 if absent.
  double operator()(const std::string& name, std::map<std::string, std::string> labels = {}) const {
    labels.emplace("model_name", "tiny");
    labels.emplace("engine", "0");
    return find_sample(samples, name, labels).value_or(-1);
  }
  double success(const std::string& reason) const {
    return (*this)("vllm:request_success_total", {{"finished_reason", reason}});
  }
};

Scrape scrape(uint16_t port) {
  auto reply = http_call(port, "GET", "/metrics");
  if (!reply || reply->status != 200) return {};
  return {reply->body, parse_exposition(reply->body)};
}

bool idle(const Scrape& s) {
  return s("vllm:num_requests_running") == 0 && s("vllm:num_requests_waiting") == 0;
}

// What the test sent, to compare the counters with.
struct Sent {
  double prompt_tokens = 0;
  double generation_tokens = 0;
  std::map<std::string, double> finished;  // by finish reason
  double requests = 0;

  void add(const json& reply, const std::string& expected_reason) {
    ASSERT_TRUE(reply.contains("usage")) << reply.dump();
    prompt_tokens += reply["usage"]["prompt_tokens"].get<double>();
    generation_tokens += reply["usage"]["completion_tokens"].get<double>();
    const std::string reason = reply["choices"][0]["finish_reason"];
    EXPECT_EQ(reason, expected_reason) << reply.dump();
    finished[reason] += 1;
    requests += 1;
  }

  bool counted_in(const Scrape& s) const {
    for (const char* reason : {"stop", "length", "abort", "error"}) {
      auto it = finished.find(reason);
      if (s.success(reason) != (it == finished.end() ? 0 : it->second)) return false;
    }
    return s("vllm:prompt_tokens_total") == prompt_tokens &&
           s("vllm:generation_tokens_total") == generation_tokens;
  }
};

// Scrapes until the server is idle and its counters hold everything sent;
// `s` is the last scrape either way, for the failure message.
bool scrape_until_counted(uint16_t port, const Sent& sent, Scrape& s) {
  return wait_for(
      [&] {
        s = scrape(port);
        return idle(s) && sent.counted_in(s);
      },
      10s);
}

std::vector<int> prompt_of(int length, int seed) {
  std::vector<int> ids;
  for (int i = 0; i < length; ++i) ids.push_back(5 + (seed * 7 + i * 3) % 200);
  return ids;
}

json complete(uint16_t port, const json& body) {
  int status = 0;
  json reply = post_json(port, "/v1/completions", body, &status);
  EXPECT_EQ(status, 200) << reply.dump();
  return reply;
}

// The histograms agree with the counters and with each other.
void expect_histograms_consistent(const Scrape& s, double requests) {
  EXPECT_EQ(s("vllm:e2e_request_latency_seconds_count"), requests);
  EXPECT_EQ(s("vllm:request_generation_tokens_count"), requests);
  EXPECT_EQ(s("vllm:request_prompt_tokens_count"), requests);
  EXPECT_EQ(s("vllm:request_params_max_tokens_count"), requests);
  EXPECT_EQ(s("vllm:request_generation_tokens_sum"), s("vllm:generation_tokens_total"));
  EXPECT_EQ(s("vllm:e2e_request_latency_seconds_bucket", {{"le", "+Inf"}}), requests);
  // One TTFT per request that got a token; queue time for each one scheduled.
  EXPECT_EQ(s("vllm:time_to_first_token_seconds_count"),
            s("vllm:request_decode_time_seconds_count"));
  EXPECT_EQ(s("vllm:request_queue_time_seconds_count"),
            s("vllm:request_prefill_time_seconds_count"));
  EXPECT_GT(s("vllm:time_to_first_token_seconds_sum"), 0);
  EXPECT_LE(s("vllm:time_to_first_token_seconds_sum"), s("vllm:e2e_request_latency_seconds_sum"));
  EXPECT_GE(s("vllm:e2e_request_latency_seconds_sum"),
            s("vllm:request_inference_time_seconds_sum"));
}

TEST(MetricsEndToEnd, CountersMatchWhatWasSentForLengthStopAndAbort) {
  // Room for a long abort request below (the fixture's 2048 positions).
  auto server = start({"--max-model-len", "2048"});
  ASSERT_NE(server.port, 0);
  const uint16_t port = server.port;
  Sent sent;

  // Length: exact prompt and output lengths.
  for (int i = 0; i < 4; ++i) {
    sent.add(complete(port, {{"prompt", prompt_of(3 + 2 * i, i)},
                             {"max_tokens", 4 + 2 * i},
                             {"ignore_eos", true},
                             {"temperature", 0}}),
             "length");
  }
  EXPECT_EQ(sent.prompt_tokens, 3 + 5 + 7 + 9);
  EXPECT_EQ(sent.generation_tokens, 4 + 6 + 8 + 10);

  // Greedy output to find a stop token and a stop string in.
  const json probe_body = {{"prompt", prompt_of(6, 9)},
                           {"max_tokens", 24},
                           {"ignore_eos", true},
                           {"temperature", 0},
                           {"return_token_ids", true}};
  const json probe = complete(port, probe_body);
  sent.add(probe, "length");
  const auto ids = probe["choices"][0]["token_ids"].get<std::vector<int>>();
  ASSERT_EQ(ids.size(), 24u);

  // A stop token the engine finishes on: the first token seen for the first time after the 4th.
  size_t at = 4;
  while (at < ids.size() && std::find(ids.begin(), ids.begin() + at, ids[at]) != ids.begin() + at) {
    ++at;
  }
  ASSERT_LT(at, ids.size()) << "no fresh token in the greedy output";
  json stop_token_body = probe_body;
  stop_token_body["stop_token_ids"] = {ids[at]};
  const json by_token = complete(port, stop_token_body);
  sent.add(by_token, "stop");
  EXPECT_EQ(by_token["usage"]["completion_tokens"], at + 1);

  // A stop string the frontend finds: two ASCII characters from the second half of the text.
  const std::string text = probe["choices"][0]["text"];
  std::string stop;
  for (size_t i = text.size() / 2; i + 1 < text.size() && stop.empty(); ++i) {
    auto plain = [](char c) { return c > ' ' && c < 127; };
    if (plain(text[i]) && plain(text[i + 1])) stop = text.substr(i, 2);
  }
  if (!stop.empty()) {
    json stop_string_body = probe_body;
    stop_string_body["stop"] = {stop};
    const json by_string = complete(port, stop_string_body);
    sent.add(by_string, "stop");
    EXPECT_LT(by_string["usage"]["completion_tokens"].get<int>(), 24) << by_string.dump();
  } else {
    ADD_FAILURE() << "no ASCII pair in the greedy text to stop on: " << json(text).dump();
  }

  ASSERT_TRUE(wait_for([&] { return sent.counted_in(scrape(port)); }, 10s))
      << "sent " << json(sent.finished).dump() << " prompt " << sent.prompt_tokens << " gen "
      << sent.generation_tokens << "\n"
      << scrape(port).text;

  // Abort: the client hangs up mid-stream. The request asks for far more tokens
  // than the engine makes before the frontend notices (a few steps of ~0.2 ms),
  // even on a loaded machine, so it cannot finish by length first.
  constexpr int kAbortMaxTokens = 2000;
  {
    HttpConnection c(port);
    const json body = {{"prompt", prompt_of(10, 3)},
                       {"max_tokens", kAbortMaxTokens},
                       {"ignore_eos", true},
                       {"stream", true}};
    ASSERT_TRUE(c.send_request("POST", "/v1/completions", body.dump()));
    ASSERT_TRUE(c.read_head());
    ASSERT_TRUE(c.read_chunk());  // a token has reached the client
  }
  Scrape after;
  ASSERT_TRUE(wait_for(
      [&] {
        after = scrape(port);
        return after.success("abort") == 1 && idle(after);
      },
      10s))
      << after.text;
  EXPECT_EQ(after.success("stop"), sent.finished["stop"]);
  EXPECT_EQ(after.success("length"), sent.finished["length"]);
  EXPECT_EQ(after.success("error"), 0);
  EXPECT_EQ(after("vllm:prompt_tokens_total"), sent.prompt_tokens + 10);
  const double aborted_tokens = after("vllm:generation_tokens_total") - sent.generation_tokens;
  EXPECT_GE(aborted_tokens, 1);
  EXPECT_LT(aborted_tokens, kAbortMaxTokens);

  expect_histograms_consistent(after, sent.requests + 1);
  EXPECT_EQ(after("vllm:num_preemptions_total"), 0);
  EXPECT_GT(after("vllm:prefix_cache_queries_total"), 0);
  EXPECT_GE(after("vllm:prefix_cache_hits_total"), 0);
  EXPECT_EQ(after("vllm:kv_cache_usage_perc"), 0);
}

TEST(MetricsEndToEnd, GaugesReturnToZeroAfterQueueingAndPreemption) {
  // 16 usable blocks of 16 tokens for 8 requests of 88 tokens: some wait,
  // and the running ones outgrow the cache and preempt each other.
  auto server =
      start({"--num-gpu-blocks-override", "17", "--max-num-seqs", "4", "--max-model-len", "256"});
  ASSERT_NE(server.port, 0);
  constexpr int kRequests = 8;
  std::vector<std::thread> clients;
  std::vector<json> replies(kRequests);
  for (int i = 0; i < kRequests; ++i) {
    clients.emplace_back([&, i] {
      replies[i] = complete(
          server.port, {{"prompt", prompt_of(24, i)}, {"max_tokens", 64}, {"ignore_eos", true}});
    });
  }
  // Watched while it runs: the queue shows; the last scrape must read idle.
  double max_waiting = 0;
  wait_for(
      [&] {
        const Scrape s = scrape(server.port);
        max_waiting = std::max(max_waiting, s("vllm:num_requests_waiting"));
        return s.success("length") == kRequests;
      },
      60s);
  for (auto& c : clients) c.join();
  Sent sent;
  for (const json& r : replies) sent.add(r, "length");
  EXPECT_EQ(sent.generation_tokens, kRequests * 64);

  Scrape s;
  ASSERT_TRUE(scrape_until_counted(server.port, sent, s)) << s.text;
  // 8 requests for 4 seats: some waited, though a scrape may miss the moment.
  std::cout << "most requests seen waiting: " << max_waiting << "\n";
  EXPECT_GT(s("vllm:num_preemptions_total"), 0) << "the cache never ran out";
  EXPECT_EQ(s("vllm:kv_cache_usage_perc"), 0);
  EXPECT_GT(s("vllm:request_queue_time_seconds_sum"), 0);
  expect_histograms_consistent(s, kRequests);
}

TEST(MetricsEndToEnd, TwoFrontendsOnOnePortScrapeAsOne) {
  auto server = start({"--api-server-count", "2", "--max-model-len", "256"});
  ASSERT_NE(server.port, 0);
  // Each request on its own connection: SO_REUSEPORT spreads them over both
  // frontends (all 16 on one has odds of 2^-15).
  constexpr int kRequests = 16;
  Sent sent;
  for (int i = 0; i < kRequests; ++i) {
    sent.add(complete(server.port, {{"prompt", prompt_of(2 + i, i)},
                                    {"max_tokens", 1 + i % 5},
                                    {"ignore_eos", true}}),
             "length");
  }
  Scrape s;
  ASSERT_TRUE(scrape_until_counted(server.port, sent, s)) << s.text;
  // Now every scrape, whichever frontend takes it, sees everything.
  for (int i = 0; i < 8; ++i) {
    s = scrape(server.port);
    EXPECT_TRUE(sent.counted_in(s)) << "scrape " << i << "\n" << s.text;
    EXPECT_TRUE(idle(s));
    EXPECT_EQ(s("waypoint:events_dropped_total", {{"producer", "frontend-0"}}), 0);
    EXPECT_EQ(s("waypoint:events_dropped_total", {{"producer", "frontend-1"}}), 0);
    EXPECT_EQ(s("waypoint:otlp_spans_dropped_total", {{"producer", "frontend-1"}}), 0);
    expect_histograms_consistent(s, kRequests);
  }
}

// The real exposition of two frontends after every kind of ending.
TEST(MetricsEndToEnd, ExpositionPassesPromtool) {
  const auto promtool = promtool_path();
  if (!promtool) GTEST_SKIP() << "promtool is not installed (scripts/setup installs prometheus)";
  auto server = start({"--api-server-count", "2", "--max-model-len", "256"});
  ASSERT_NE(server.port, 0);
  for (int i = 0; i < 4; ++i) {
    complete(server.port, {{"prompt", prompt_of(4, i)}, {"max_tokens", 3}, {"ignore_eos", true}});
  }
  complete(server.port, {{"prompt", prompt_of(4, 7)}, {"max_tokens", 3}, {"stop", {" "}}});
  {
    HttpConnection c(server.port);
    const json body = {
        {"prompt", prompt_of(10, 3)}, {"max_tokens", 200}, {"ignore_eos", true}, {"stream", true}};
    ASSERT_TRUE(c.send_request("POST", "/v1/completions", body.dump()));
    ASSERT_TRUE(c.read_head());
    ASSERT_TRUE(c.read_chunk());
  }
  Scrape s;
  ASSERT_TRUE(wait_for(
      [&] {
        s = scrape(server.port);
        return idle(s) && s.success("abort") == 1;
      },
      10s))
      << s.text;
  const auto verdict = promtool_check(*promtool, s.text);
  EXPECT_TRUE(promtool_passes(verdict)) << "exit " << verdict.exit_code << "\n"
                                        << verdict.output << "\n"
                                        << s.text;
}

}  // namespace
}  // namespace waypoint::testing
