// Journey tracing end to end (docs/journey-tracing.md): a real server under
// preemption, aborts and client disconnects, its events recorded by the real
// `waypoint events`, and every per-request invariant checked on what came out.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "proto/event_hub_frame.hpp"
#include "telemetry/trace_attributes.hpp"
#include "tests/launcher/hub_test_support.hpp"
#include "tests/serve/events_recorder.hpp"
#include "tests/serve/http_client.hpp"
#include "tests/serve/serve_process.hpp"
#include "tests/serve/test_server.hpp"
#include "tests/worker/scratch_dir.hpp"

namespace waypoint::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

size_t count_type(const std::vector<json>& lines, std::string_view type) {
  return static_cast<size_t>(std::count_if(lines.begin(), lines.end(), [&](const json& j) {
    return j.value("event.type", "") == type;
  }));
}


// Everything the hub still holds, read straight from its replay socket.
std::vector<HubFrame> replay_all(const std::string& endpoint) {
  zmq::context_t context(1);
  Replay r = replay_from(context, endpoint, 0);
  EXPECT_TRUE(r.ended) << "replay did not end";
  return std::move(r.frames);
}

// Journey events by request id, from replayed hub frames.
std::map<std::string, std::vector<std::string>> journeys_of(const std::vector<HubFrame>& frames) {
  std::map<std::string, std::vector<std::string>> by_id;
  for (const auto& f : frames) {
    if (f.topic != kTopicJourney) continue;
    auto payload = decode_hub_payload(f.payload);
    if (!payload) continue;
    for (const auto& e : payload->events) {
      by_id[std::get<std::string>(*e.find(attr::kRequestId))].push_back(
          std::get<std::string>(*e.find(attr::kEventType)));
    }
  }
  return by_id;
}

bool tracing_state_drained(uint16_t port) {
  return metric(port, "waypoint:journey_core_live_states") == 0 &&
         metric(port, "waypoint:journey_api_live_states") == 0 &&
         metric(port, "vllm:num_requests_running") == 0 &&
         metric(port, "vllm:num_requests_waiting") == 0;
}

json token_prompt(std::mt19937& rng, int len) {
  json ids = json::array();
  for (int i = 0; i < len; ++i) ids.push_back(10 + static_cast<int>(rng() % 400));
  return ids;
}

// One client request in the mix: most run to the end, some hang up after
// their first chunk, some right after sending.
enum class Ending { kComplete, kHangUpMidStream, kHangUpAtOnce };

void one_request(uint16_t port, std::mt19937& rng, Ending ending) {
  const bool stream = ending == Ending::kHangUpMidStream || rng() % 2 == 0;
  json body{{"prompt", token_prompt(rng, 8 + static_cast<int>(rng() % 56))},
            {"max_tokens", 4 + static_cast<int>(rng() % 40)},
            {"ignore_eos", true},
            {"stream", stream}};
  HttpConnection c(port);
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send_request("POST", "/v1/completions", body.dump()));
  if (ending == Ending::kHangUpAtOnce) return;
  if (ending == Ending::kHangUpMidStream) {
    ASSERT_TRUE(c.read_head());
    c.read_chunk();
    return;
  }
  auto reply = c.read_reply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200) << reply->body;
}

TEST(JourneyTracingEndToEnd, InvariantsHoldUnderPreemptionAbortsAndDisconnects) {
  // 47 usable KV blocks of 16 tokens for 32 requests of up to 100 tokens:
  // the scheduler must preempt.
  auto server = start({"--enable-journey-tracing", "--kv-events", "--num-gpu-blocks-override",
                       "48", "--max-num-seqs", "32", "--max-model-len", "256", "--event-buffer",
                       "500000"});
  ASSERT_NE(server.port, 0);
  const auto hub = server.process->event_endpoints();
  ASSERT_TRUE(hub) << server.process->log();
  ScratchDir dir;
  const auto out = dir.path() / "events.jsonl";
  const auto err = dir.path() / "events.err";
  EventsRecorder recorder(hub->first, hub->second, out, err);

  constexpr int kThreads = 32;
  constexpr int kPerThread = 12;
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      std::mt19937 rng(1000 + t);
      for (int i = 0; i < kPerThread; ++i) {
        const int k = (t * kPerThread + i) % 8;
        one_request(server.port, rng,
                    k == 0   ? Ending::kHangUpMidStream
                    : k == 1 ? Ending::kHangUpAtOnce
                             : Ending::kComplete);
      }
    });
  }
  for (auto& c : clients) c.join();
  constexpr size_t kRequests = kThreads * kPerThread;

  ASSERT_TRUE(wait_for([&] { return tracing_state_drained(server.port); }, 20s))
      << "tracing state left behind";
  // Every journey's last event has been recorded.
  ASSERT_TRUE(wait_for(
      [&] {
        const auto lines = read_jsonl(out);
        return count_type(lines, event_name::kFinished) == kRequests &&
               count_type(lines, event_name::kDeparted) + count_type(lines, event_name::kAborted) ==
                   kRequests;
      },
      20s))
      << "events recorded: " << read_jsonl(out).size();
  EXPECT_EQ(recorder.stop(), 0);
  std::ifstream err_in(err);
  const std::string err_text((std::istreambuf_iterator<char>(err_in)), {});
  EXPECT_EQ(err_text.find("gap"), std::string::npos) << err_text;

  const auto lines = read_jsonl(out);
  std::map<std::string, std::vector<json>> core, api;
  // One line per event; a hub message (one seq) may hold several events.
  // Replay from 0 then live: every seq from 0 on, none missing or repeated.
  uint64_t last_seq = 0;
  size_t kv_stored = 0;
  for (const auto& j : lines) {
    const auto seq = j.at("seq").get<uint64_t>();
    if (&j == &lines.front()) {
      EXPECT_EQ(seq, 0u);
    } else {
      EXPECT_TRUE(seq == last_seq || seq == last_seq + 1) << seq << " after " << last_seq;
    }
    last_seq = seq;
    const std::string type = j.at("event.type");
    if (j.at("topic") == "kv") kv_stored += type == event_name::kBlockStored;
    if (j.at("topic") != "journey") continue;
    (type.rfind("api.", 0) == 0 ? api : core)[j.at("request.id")].push_back(j);
  }
  EXPECT_GT(kv_stored, 0u) << "--kv-events did not reach the engine core";
  ASSERT_EQ(core.size(), kRequests);
  ASSERT_EQ(api.size(), kRequests);

  size_t preemptions = 0, core_aborted = 0, api_aborted = 0;
  for (const auto& [id, events] : core) {
    SCOPED_TRACE(id);
    ASSERT_GE(events.size(), 2u);
    EXPECT_EQ(events.front()["event.type"], event_name::kQueued);
    EXPECT_EQ(events.back()["event.type"], event_name::kFinished);
    int scheduled = 0, first_tokens = 0, finished = 0;
    for (size_t i = 0; i < events.size(); ++i) {
      const json& e = events[i];
      const std::string type = e["event.type"];
      if (i > 0) {
        const json& before = events[i - 1];
        EXPECT_GE(e["ts.monotonic_ns"].get<int64_t>(), before["ts.monotonic_ns"].get<int64_t>());
        EXPECT_GE(e["scheduler.step"].get<int64_t>(), before["scheduler.step"].get<int64_t>());
        EXPECT_GE(e["prefill.done_tokens"].get<int64_t>(),
                  before["prefill.done_tokens"].get<int64_t>());
      }
      if (type == event_name::kScheduled) {
        // SCHEDULED(FIRST) after QUEUED; then PREEMPTED -> SCHEDULED(RESUME) pairs.
        EXPECT_EQ(e["schedule.kind"], scheduled == 0 ? "FIRST" : "RESUME");
        EXPECT_EQ(events[i - 1]["event.type"],
                  scheduled == 0 ? event_name::kQueued : event_name::kPreempted);
        ++scheduled;
      }
      if (type == event_name::kPreempted) ++preemptions;
      first_tokens += type == event_name::kFirstToken;
      finished += type == event_name::kFinished;
    }
    EXPECT_EQ(finished, 1);
    if (events.back()["finish.status"] == "aborted") {
      ++core_aborted;
      EXPECT_LE(first_tokens, 1);
    } else {
      EXPECT_EQ(first_tokens, 1);
    }

    const auto& a = api.at(id);
    ASSERT_GE(a.size(), 3u);
    EXPECT_EQ(a[0]["event.type"], event_name::kArrived);
    EXPECT_EQ(a[1]["event.type"], event_name::kHandoffToCore);
    const std::string last = a.back()["event.type"];
    EXPECT_TRUE(last == event_name::kDeparted || last == event_name::kAborted) << last;
    api_aborted += last == event_name::kAborted;
    for (size_t i = 1; i < a.size(); ++i) {
      EXPECT_GE(a[i]["ts.monotonic_ns"].get<int64_t>(), a[i - 1]["ts.monotonic_ns"].get<int64_t>());
    }
    // One clock for both processes: the hand-off precedes the queueing.
    EXPECT_LE(a[1]["ts.monotonic_ns"].get<int64_t>(),
              events.front()["ts.monotonic_ns"].get<int64_t>());
  }
  EXPECT_GT(preemptions, 0u) << "the scenario did not preempt";
  EXPECT_GT(core_aborted, 0u);
  EXPECT_GT(api_aborted, 0u);
}

TEST(JourneyTracingEndToEnd, NoTracingStateIsLeftAfterTenThousandRequests) {
  auto server = start({"--enable-journey-tracing", "--max-num-seqs", "64"});
  ASSERT_NE(server.port, 0);
  constexpr int kThreads = 16;
  constexpr int kPerThread = 625;
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < kPerThread; ++i) {
        json body{{"prompt", token_prompt(rng, 4)},
                  {"max_tokens", 1 + static_cast<int>(rng() % 3)},
                  {"ignore_eos", true}};
        HttpConnection c(server.port);
        if (!c.connected() || !c.send_request("POST", "/v1/completions", body.dump())) {
          ++failures;
          continue;
        }
        if (i % 50 == 0) continue;  // hang up: the request is aborted
        auto reply = c.read_reply();
        if (!reply || reply->status != 200) ++failures;
      }
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_TRUE(wait_for([&] { return tracing_state_drained(server.port); }, 20s))
      << "core " << metric(server.port, "waypoint:journey_core_live_states") << ", api "
      << metric(server.port, "waypoint:journey_api_live_states");
  EXPECT_EQ(metric(server.port, "waypoint:events_dropped_total"), 0);
}

TEST(JourneyTracingEndToEnd, SamplingIsDecidedOnceAndTheCoreObeysIt) {
  auto server = start({"--enable-journey-tracing", "--journey-tracing-sample-rate", "0.5",
                       "--event-buffer", "100000"});
  ASSERT_NE(server.port, 0);
  const auto hub = server.process->event_endpoints();
  ASSERT_TRUE(hub);
  std::vector<std::string> ids(200);
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      for (size_t i = static_cast<size_t>(t); i < ids.size(); i += 8) {
        const json reply = post_json(server.port, "/v1/completions",
                                     {{"prompt", "hello"}, {"max_tokens", 2}});
        ids[i] = reply.value("id", "");
      }
    });
  }
  for (auto& c : clients) c.join();
  ASSERT_TRUE(wait_for([&] { return tracing_state_drained(server.port); }, 10s));
  std::this_thread::sleep_for(200ms);  // the last events on their way through the hub
  const auto journeys = journeys_of(replay_all(hub->second));

  size_t traced = 0;
  for (const auto& id : ids) {
    ASSERT_FALSE(id.empty());
    auto it = journeys.find(id);
    if (it == journeys.end()) continue;  // not sampled: no event from anyone
    ++traced;
    const auto& types = it->second;
    auto has = [&](std::string_view t) {
      return std::find(types.begin(), types.end(), t) != types.end();
    };
    EXPECT_TRUE(has(event_name::kArrived) && has(event_name::kDeparted)) << id;
    EXPECT_TRUE(has(event_name::kQueued) && has(event_name::kFinished)) << id;
  }
  EXPECT_EQ(journeys.size(), traced);
  // Binomial(200, 0.5): 100 +- 7; these bounds fail once in ~10^12 runs.
  EXPECT_GT(traced, 50u);
  EXPECT_LT(traced, 150u);
}

TEST(JourneyTracingEndToEnd, OffByDefaultAndTheEventBufferBoundsReplay) {
  auto server = start({"--kv-events", "--event-buffer", "5"});
  ASSERT_NE(server.port, 0);
  const auto hub = server.process->event_endpoints();
  ASSERT_TRUE(hub);
  std::mt19937 rng(3);
  for (int i = 0; i < 20; ++i) {
    // 40 distinct tokens: two full blocks stored per request.
    post_json(server.port, "/v1/completions",
              {{"prompt", token_prompt(rng, 40)}, {"max_tokens", 2}});
  }
  ASSERT_TRUE(wait_for([&] { return tracing_state_drained(server.port); }, 10s));
  std::this_thread::sleep_for(200ms);
  const auto frames = replay_all(hub->second);
  ASSERT_EQ(frames.size(), 5u);
  EXPECT_GT(frames.front().seq, 0u);  // older messages fell out of the buffer
  for (const auto& f : frames) EXPECT_EQ(f.topic, kTopicKv);
}

}  // namespace
}  // namespace waypoint::testing
