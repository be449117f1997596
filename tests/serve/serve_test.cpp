// `waypoint serve` end to end: real processes, real sockets, real clients.
// Each test starts its own server on an ephemeral port with the make-model
// fixture, and every process it starts is reaped when the test ends.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/serve/http_client.hpp"
#include "tests/serve/serve_process.hpp"
#include "tests/serve/test_server.hpp"
#include "tests/worker/scratch_dir.hpp"

namespace waypoint::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

void expect_all_children_gone(const ServeProcess& server) {
  const auto children = server.children();
  EXPECT_FALSE(children.empty());
  for (const auto& [name, pid] : children) {
    EXPECT_FALSE(process_exists(pid)) << name << " (pid " << pid << ") outlived the launcher";
  }
}

void expect_error(const std::optional<HttpReply>& reply, int status,
                  const std::string& param = "") {
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, status) << reply->body;
  const json body = json::parse(reply->body, nullptr, false);
  ASSERT_TRUE(body.is_object() && body.contains("error")) << reply->body;
  EXPECT_TRUE(body["error"]["message"].is_string());
  EXPECT_EQ(body["error"]["code"], status);
  if (!param.empty()) {
    EXPECT_EQ(body["error"]["param"], param) << reply->body;
  }
}

TEST(ServeTest, BadInputGetsOpenAiErrorsAndTheServerIsUnharmed) {
  auto server = start({"--max-request-bytes", "4096", "--max-model-len", "256"});
  const uint16_t port = server.port;
  const std::string path = "/v1/completions";

  expect_error(http_call(port, "POST", path, "{\"prompt\": \"hi\", "), 400);
  expect_error(http_call(port, "POST", path, R"({"prompt":"hi","temperature":"hot"})"), 400,
               "temperature");
  expect_error(http_call(port, "POST", path, R"({"prompt":"hi","model":"gpt-9"})"), 404, "model");
  json too_long{{"prompt", std::vector<int>(300, 5)}, {"max_tokens", 4}};
  expect_error(http_call(port, "POST", path, too_long.dump()), 400);
  json over_budget{{"prompt", std::vector<int>(200, 5)}, {"max_tokens", 100}};
  expect_error(http_call(port, "POST", path, over_budget.dump()), 400, "max_tokens");
  expect_error(http_call(port, "POST", path, R"({"prompt":"hi","max_tokens":0})"), 400,
               "max_tokens");
  expect_error(http_call(port, "POST", path, R"({"prompt":"hi","temperature":-1})"), 400,
               "temperature");
  expect_error(http_call(port, "POST", path, "{\"prompt\":\"\xff\xfe\"}"), 400);
  expect_error(http_call(port, "POST", path, R"({"prompt":")" + std::string(5000, 'a') + "\"}"),
               413);
  expect_error(http_call(port, "POST", "/v1/chat/completions", R"({"messages":"hi"})"), 400,
               "messages");
  expect_error(http_call(port, "GET", "/v1/nothing-here"), 404);

  // Still healthy, and still serving.
  auto health = http_call(port, "GET", "/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  int status = 0;
  json ok = post_json(port, path, {{"prompt", "Hello"}, {"max_tokens", 5}, {"ignore_eos", true}},
                      &status);
  EXPECT_EQ(status, 200) << ok.dump();
  EXPECT_EQ(ok["usage"]["completion_tokens"], 5);

  auto models = http_call(port, "GET", "/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(json::parse(models->body)["data"][0]["id"], "tiny");
  EXPECT_EQ(json::parse(models->body)["data"][0]["max_model_len"], 256);
  auto version = http_call(port, "GET", "/version");
  ASSERT_TRUE(version);
  EXPECT_TRUE(json::parse(version->body)["version"].is_string());

  json tokens = post_json(port, "/tokenize", {{"prompt", "Hello world"}}, &status);
  EXPECT_EQ(status, 200);
  ASSERT_TRUE(tokens["tokens"].is_array());
  EXPECT_EQ(tokens["count"], tokens["tokens"].size());
  json text = post_json(port, "/detokenize", {{"tokens", tokens["tokens"]}}, &status);
  EXPECT_EQ(status, 200);
  EXPECT_NE(text["prompt"].get<std::string>().find("Hello world"), std::string::npos);

  server.process->signal(SIGTERM);
  auto exit = server.process->wait_exit(10s);
  ASSERT_TRUE(exit);
  EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0) << server.process->log();
  expect_all_children_gone(*server.process);
}

TEST(ServeTest, StreamingEndsWithDoneAndHonoursIncludeUsage) {
  auto server = start({});
  HttpConnection c(server.port);
  json body{{"prompt", "Once upon"}, {"max_tokens", 6},
            {"ignore_eos", true},    {"stream", true},
            {"temperature", 0},      {"stream_options", {{"include_usage", true}}}};
  ASSERT_TRUE(c.send_request("POST", "/v1/completions", body.dump()));
  auto head = c.read_head();
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_NE(head->headers.find("text/event-stream"), std::string::npos);
  std::string events;
  while (auto chunk = c.read_chunk()) events += *chunk;
  ASSERT_GE(events.size(), 14u);
  EXPECT_EQ(events.substr(events.size() - 14), "data: [DONE]\n\n");
  EXPECT_NE(events.find("\"completion_tokens\":6"), std::string::npos) << events;
  EXPECT_NE(events.find("\"finish_reason\":\"length\""), std::string::npos) << events;
}

TEST(ServeTest, ClientDisconnectAbortsTheRequestInTheCore) {
  auto server = start({});
  const uint16_t port = server.port;
  json body{{"prompt", "Hello"}, {"max_tokens", 1900}, {"ignore_eos", true}, {"stream", true}};
  double step_before = 0;
  {
    HttpConnection c(port);
    ASSERT_TRUE(c.send_request("POST", "/v1/completions", body.dump()));
    ASSERT_TRUE(c.read_head());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(c.read_chunk());
    EXPECT_EQ(metric(port, "vllm:num_requests_running"), 1);
    step_before = metric(port, "waypoint:scheduler_step");
    ASSERT_GT(step_before, 0);
  }  // hang up mid-stream
  // The core drops it within a step or so of hearing of it: nowhere near the
  // ~1900 steps it would take to finish, and its KV blocks are freed.
  double running = 1, usage = 1;
  for (int i = 0; i < 500 && (running != 0 || usage != 0); ++i) {
    std::this_thread::sleep_for(10ms);
    running = metric(port, "vllm:num_requests_running");
    usage = metric(port, "vllm:kv_cache_usage_perc");
  }
  EXPECT_EQ(running, 0);
  EXPECT_EQ(usage, 0);
  const double step_after = metric(port, "waypoint:scheduler_step");
  EXPECT_LT(step_after - step_before, 100) << "the request ran on after its client left";
}

TEST(ServeTest, TensorParallel2MatchesOfflineGenerate) {
  auto server = start({"--tensor-parallel-size", "2"});
  int status = 0;
  json reply = post_json(server.port, "/v1/completions",
                         {{"prompt", {1, 2, 3, 4, 5, 6, 7, 8}},
                          {"max_tokens", 16},
                          {"temperature", 0},
                          {"return_token_ids", true}},
                         &status);
  ASSERT_EQ(status, 200) << reply.dump();
  const auto served = reply["choices"][0]["token_ids"].get<std::vector<int>>();

  ScratchDir scratch;
  const std::string out = (scratch / "generate.json").string();
  const std::string cmd = kBinary + " generate --model " + kModel +
                          " --prompt-token-ids 1,2,3,4,5,6,7,8 --max-tokens 16 "
                          "--tensor-parallel-size 2 --json > " +
                          out;
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream in(out);
  const json offline = json::parse(in);
  EXPECT_EQ(served, offline["token_ids"].get<std::vector<int>>());
}

TEST(ServeTest, TwoFrontendsShareThePortAndEachGetsItsOwnOutputs) {
  auto server = start({"--api-server-count", "2"});
  constexpr int kRequests = 48;
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kRequests; i += 8) {
        // Each request's length is its signature: a mix-up between frontends
        // would hand a client someone else's tokens, or none.
        const int n = 1 + i;
        auto reply = http_call(
            server.port, "POST", "/v1/completions",
            json{{"prompt", "Hi " + std::to_string(i)}, {"max_tokens", n}, {"ignore_eos", true}}
                .dump());
        if (!reply || reply->status != 200) continue;
        const json body = json::parse(reply->body, nullptr, false);
        if (body["usage"]["completion_tokens"] == n) ++good;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), kRequests);
  const auto children = server.process->children();
  EXPECT_TRUE(children.count("frontend-0") && children.count("frontend-1"));
}

TEST(ServeTest, KilledWorkerFailsInFlightRequestsAndEverythingExits) {
  auto server = start({"--tensor-parallel-size", "2"});
  const uint16_t port = server.port;
  HttpConnection c(port);
  json body{{"prompt", "Hello"}, {"max_tokens", 1900}, {"ignore_eos", true}, {"stream", true}};
  ASSERT_TRUE(c.send_request("POST", "/v1/completions", body.dump()));
  ASSERT_TRUE(c.read_head());
  ASSERT_TRUE(c.read_chunk());

  const auto killed_at = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(server.process->children().at("worker-1"), SIGKILL), 0);
  std::string rest;
  while (auto chunk = c.read_chunk(5s)) rest += *chunk;
  EXPECT_NE(rest.find("\"error\""), std::string::npos) << "no SSE error event";
  auto health = http_call(port, "GET", "/health");
  ASSERT_TRUE(health) << "the frontend went away before reporting 503";
  EXPECT_EQ(health->status, 503);

  auto exit = server.process->wait_exit(5s);
  ASSERT_TRUE(exit) << "serve did not exit within 5 s";
  EXPECT_LT(std::chrono::steady_clock::now() - killed_at, 5s);
  EXPECT_FALSE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0);
  EXPECT_NE(server.process->log().find("waypoint serve: worker-1"), std::string::npos)
      << server.process->log();
  expect_all_children_gone(*server.process);
}

TEST(ServeTest, KilledEngineCoreGives500AndEverythingExits) {
  auto server = start({});
  HttpConnection c(server.port);
  json body{{"prompt", "Hello"}, {"max_tokens", 1900}, {"ignore_eos", true}};
  ASSERT_TRUE(c.send_request("POST", "/v1/completions", body.dump()));
  std::this_thread::sleep_for(50ms);
  const auto killed_at = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(server.process->children().at("engine-0"), SIGKILL), 0);
  auto reply = c.read_reply(5s);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 500) << reply->body;
  auto exit = server.process->wait_exit(5s);
  ASSERT_TRUE(exit);
  EXPECT_LT(std::chrono::steady_clock::now() - killed_at, 5s);
  EXPECT_FALSE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0);
  EXPECT_NE(server.process->log().find("waypoint serve: engine-0"), std::string::npos);
  expect_all_children_gone(*server.process);
}

TEST(ServeTest, SigtermFinishesInFlightRequestsThenExitsZero) {
  auto server = start({});
  HttpConnection c(server.port);
  json body{{"prompt", "Hello"}, {"max_tokens", 800}, {"ignore_eos", true}};
  ASSERT_TRUE(c.send_request("POST", "/v1/completions", body.dump()));
  for (int i = 0; i < 200 && metric(server.port, "vllm:num_requests_running") != 1; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  server.process->signal(SIGTERM);
  auto reply = c.read_reply(30s);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(json::parse(reply->body)["usage"]["completion_tokens"], 800);
  auto exit = server.process->wait_exit(10s);
  ASSERT_TRUE(exit);
  EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0) << server.process->log();
  expect_all_children_gone(*server.process);
  HttpConnection after(server.port);
  EXPECT_FALSE(after.connected());
}

TEST(ServeTest, WithoutModelServesTheDemoModelFromTheCache) {
  ScratchDir cache;
  auto server = start({"--no-model"}, {{"XDG_CACHE_HOME", cache.path().string()}});
  EXPECT_TRUE(std::filesystem::exists(cache / "waypoint/models/demo-tiny/config.json"));
  int status = 0;
  post_json(server.port, "/v1/chat/completions",
            {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 3}}, &status);
  EXPECT_EQ(status, 200);
}

TEST(ServeTest, ModelThatCannotLoadIsNamedAndNothingIsLeft) {
  ScratchDir scratch;
  std::filesystem::copy(kModel, scratch / "broken");
  std::filesystem::remove(scratch / "broken/model.safetensors");
  ServeProcess server(kBinary, {"--model", (scratch / "broken").string()});
  auto exit = server.wait_exit(30s);
  ASSERT_TRUE(exit);
  EXPECT_FALSE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0);
  EXPECT_NE(server.log().find("worker-0 failed to start"), std::string::npos) << server.log();
  expect_all_children_gone(server);
}

// The official npm `openai` client, pinned in tests/serve/js/package.json and
// installed into the build tree by the openai_client fixture.
std::string node_command(const std::string& script, uint16_t port, const std::string& extra = "") {
  return std::string(WAYPOINT_NODE) + " " + WAYPOINT_JS_DIR + "/" + script + " " +
         WAYPOINT_NPM_OPENAI + " http://127.0.0.1:" + std::to_string(port) + " tiny " + extra;
}

bool have_node() { return std::string(WAYPOINT_NODE).find("NOTFOUND") == std::string::npos; }

TEST(ServeTest, OfficialOpenAiClientChatAndCompletions) {
  if (!have_node()) GTEST_SKIP() << "node is not installed (scripts/setup installs it)";
  auto server = start({});
  EXPECT_EQ(std::system(node_command("openai_client_test.mjs", server.port).c_str()), 0)
      << server.process->log();
}

TEST(ServeTest, FiveHundredTwelveConcurrentStreams) {
  if (!have_node()) GTEST_SKIP() << "node is not installed (scripts/setup installs it)";
  auto server = start({});
  EXPECT_EQ(std::system(node_command("concurrent_streams.mjs", server.port, "512 16").c_str()), 0)
      << server.process->log();
  EXPECT_EQ(metric(server.port, "vllm:num_requests_running"), 0);
}

}  // namespace
}  // namespace waypoint::testing
