// `waypoint events`: the real binary against a hub hosted in the test (or a
// hand-made one that skips seqs), checked line by line; and its formats.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "engine_core/step_trace.hpp"
#include "launcher/event_hub.hpp"
#include "proto/event_hub_frame.hpp"
#include "telemetry/trace_attributes.hpp"
#include "tests/launcher/hub_test_support.hpp"
#include "tools/cli.hpp"
#include "tools/event_format.hpp"
#include "tools/events_command.hpp"

extern char** environ;

namespace waypoint {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::ipc_endpoint;
using testing::receive;
using testing::ScratchDir;
using testing::send_parts;
using testing::seq_bytes;
using namespace std::string_literals;
using nlohmann::json;

const std::string kBinary = WAYPOINT_BINARY;


std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// `waypoint events ARGS...` with stdout and stderr in files; killed and
// reaped however the test ends.
class EventsProcess {
 public:
  EventsProcess(const fs::path& dir, const std::vector<std::string>& args)
      : out_(unique_file(dir, "stdout")), err_(unique_file(dir, "stderr")) {
    std::vector<std::string> storage{kBinary, "events"};
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : storage) argv.push_back(a.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int rc = ::posix_spawn(&pid_, kBinary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("posix_spawn " + kBinary + ": " + std::strerror(rc));
  }
  ~EventsProcess() {
    if (!status_) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
  }
  EventsProcess(const EventsProcess&) = delete;
  EventsProcess& operator=(const EventsProcess&) = delete;

  // The exit code (128 + N for signal N), once it has exited within `timeout`.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!status_) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      } else if (std::chrono::steady_clock::now() > deadline) {
        return std::nullopt;
      } else {
        std::this_thread::sleep_for(2ms);
      }
    }
    return status_;
  }
  void signal(int sig) { ::kill(pid_, sig); }
  std::string out() const { return read_file(out_); }
  std::string err() const { return read_file(err_); }

 private:
  static fs::path unique_file(const fs::path& dir, const std::string& stem) {
    std::string tmpl = (dir / (stem + ".XXXXXX")).string();
    const int fd = ::mkstemp(tmpl.data());
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    ::close(fd);
    return tmpl;
  }

  fs::path out_;
  fs::path err_;
  pid_t pid_ = -1;
  std::optional<int> status_;
};




std::string payload(std::string producer, std::vector<HubEvent> events) {
  return encode_hub_payload(HubPayload{1732380000.5, std::move(producer), std::move(events)});
}

HubEvent typed(std::string_view type, std::vector<std::pair<std::string, AttrValue>> attrs = {}) {
  HubEvent e;
  e.attrs.emplace_back(std::string(attr::kEventType), std::string(type));
  for (auto& a : attrs) e.attrs.push_back(std::move(a));
  return e;
}

// A journey event as the core's tracer writes it (docs/architecture.md, "Observability").
HubEvent journey(std::string_view type, const std::string& id, int64_t ts_ns, int64_t step,
                 const std::string& phase, int64_t prefill_done, int64_t decode_done) {
  return typed(type, {{std::string(attr::kRequestId), id},
                      {std::string(attr::kTsMonotonicNs), ts_ns},
                      {std::string(attr::kSchedulerStep), step},
                      {std::string(attr::kPhase), phase},
                      {std::string(attr::kPrefillDoneTokens), prefill_done},
                      {std::string(attr::kPrefillTotalTokens), int64_t{37}},
                      {std::string(attr::kDecodeDoneTokens), decode_done},
                      {std::string(attr::kDecodeMaxTokens), int64_t{16}},
                      {std::string(attr::kNumPreemptions), int64_t{0}}});
}

std::vector<uint64_t> seqs(const std::vector<json>& lines) {
  std::vector<uint64_t> out;
  for (const auto& j : lines) out.push_back(j.at("seq").get<uint64_t>());
  return out;
}

std::vector<json> parse_lines(const std::string& text) {
  std::vector<json> out;
  for (const auto& line : lines_of(text)) out.push_back(json::parse(line));
  return out;
}

// A producer whose messages are never lost: an XPUB on the hub's intake,
// ready once the hub's subscription has arrived.
class RawProducer {
 public:
  RawProducer(zmq::context_t& context, const std::string& intake)
      : socket_(context, zmq::socket_type::xpub) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::xpub_nodrop, 1);
    socket_.connect(intake);
    if (!receive(socket_, 10s)) throw std::runtime_error("the hub did not subscribe");
  }
  void send(const std::vector<std::string>& parts) { send_parts(socket_, parts); }

 private:
  zmq::socket_t socket_;
};

// A real hub on ephemeral ports, and the test as its producer.
class events_command : public ::testing::Test {
 protected:
  events_command()
      : hub_(context_, EventHubConfig{ipc_endpoint(dir_, "intake"), "tcp://127.0.0.1:*", "tcp://127.0.0.1:*",
                                      10000, 10000}),
        producer_(context_, hub_.intake_endpoint()) {}

  // Returns once the hub has stamped it.
  void publish(std::string_view topic, std::string producer, std::vector<HubEvent> events) {
    producer_.send({std::string(topic), payload(std::move(producer), std::move(events))});
    ++published_;
    ASSERT_TRUE(wait_until([&] { return hub_.messages() == published_; }));
  }

  std::vector<std::string> args(std::vector<std::string> extra) const {
    std::vector<std::string> a = {"--connect", hub_.publish_endpoint(), "--replay-endpoint",
                                  hub_.replay_endpoint()};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  // Runs to --count and returns its output file's text.
  std::string run_to_count(std::vector<std::string> extra, std::string* err = nullptr) {
    const fs::path output = dir_.path() / ("out-" + std::to_string(++runs_) + ".txt");
    extra.insert(extra.end(), {"--output", output.string()});
    EventsProcess p(dir_.path(), args(extra));
    const auto code = p.wait_exit();
    EXPECT_EQ(code, std::optional<int>(0)) << "stderr: " << p.err();
    if (err) *err = p.err();
    EXPECT_EQ(p.out(), "") << "--output was given";
    return read_file(output);
  }

  zmq::context_t context_;
  ScratchDir dir_;
  EventHub hub_;
  RawProducer producer_;
  uint64_t published_ = 0;
  int runs_ = 0;
};

TEST_F(events_command, ReplayPrintsJsonLinesOfEveryTopic) {
  publish(kTopicJourney, "engine-0",
          {typed(event_name::kQueued, {{"request.id", "req-1"s},
                                       {"ts.monotonic_ns", int64_t{8500000000}},
                                       {"ts.monotonic", 8.5},
                                       {"scheduler.step", int64_t{1}},
                                       {"phase", "WAITING"s},
                                       {"sampled", true},
                                       {"note", AttrValue{}}}),
           typed(event_name::kScheduled, {{"request.id", "req-1"s}})});
  publish(
      kTopicStep, "engine-0",
      {typed(event_name::kBatchSummary, {{"step.id", int64_t{2}}, {"kv.usage_gpu_ratio", 2.0}})});
  publish(kTopicKv, "engine-0",
          {typed(event_name::kBlockStored, {{"kv.block_hashes", std::vector<int64_t>{-1, 42}},
                                            {"kv.token_ids", std::vector<int64_t>{}}})});
  publish("custom", "frontend-1", {typed("custom.THING")});

  std::string err;
  const std::string text = run_to_count({"--replay-from", "0", "--count", "5"}, &err);
  const auto lines = lines_of(text);
  ASSERT_EQ(lines.size(), 5u) << text;
  EXPECT_EQ(lines[0],
            R"({"seq":0,"topic":"journey","producer":"engine-0","event.type":"journey.QUEUED",)"
            R"("request.id":"req-1","ts.monotonic_ns":8500000000,"ts.monotonic":8.5,)"
            R"("scheduler.step":1,"phase":"WAITING","sampled":true,"note":null})");
  EXPECT_EQ(lines[1], R"({"seq":0,"topic":"journey","producer":"engine-0",)"
                      R"("event.type":"journey.SCHEDULED","request.id":"req-1"})");
  EXPECT_EQ(lines[2], R"({"seq":1,"topic":"step","producer":"engine-0",)"
                      R"("event.type":"step.BATCH_SUMMARY","step.id":2,"kv.usage_gpu_ratio":2.0})");
  EXPECT_EQ(lines[3],
            R"({"seq":2,"topic":"kv","producer":"engine-0","event.type":"kv.BlockStored",)"
            R"("kv.block_hashes":[-1,42],"kv.token_ids":[]})");
  EXPECT_EQ(lines[4], R"({"seq":3,"topic":"custom","producer":"frontend-1",)"
                      R"("event.type":"custom.THING"})");
  EXPECT_EQ(err, "");
}

TEST_F(events_command, TopicAndRequestIdFilter) {
  publish(kTopicJourney, "engine-0",
          {typed(event_name::kQueued, {{"request.id", "req-1"s}}),
           typed(event_name::kQueued, {{"request.id", "req-2"s}})});
  publish(kTopicStep, "engine-0", {typed(event_name::kBatchSummary)});
  publish(kTopicKv, "engine-0", {typed(event_name::kBlockStored)});
  publish(kTopicJourney, "engine-0", {typed(event_name::kScheduled, {{"request.id", "req-2"s}})});
  publish("custom", "engine-0", {typed("custom.THING")});

  std::string err;
  auto journey_kv = parse_lines(
      run_to_count({"--topic", "journey,kv", "--replay-from", "0", "--count", "4"}, &err));
  ASSERT_EQ(journey_kv.size(), 4u);
  EXPECT_EQ(seqs(journey_kv), (std::vector<uint64_t>{0, 0, 2, 3}));
  EXPECT_EQ(journey_kv[2]["topic"], "kv");
  // Other topics are filtered here, not at the hub: no gap is seen.
  EXPECT_EQ(err, "");

  auto step_custom = parse_lines(
      run_to_count({"--topic", "step", "--topic", "custom", "--replay-from", "0", "--count", "2"}));
  ASSERT_EQ(step_custom.size(), 2u);
  EXPECT_EQ(step_custom[0]["topic"], "step");
  EXPECT_EQ(step_custom[1]["topic"], "custom");

  auto req2 = parse_lines(run_to_count(
      {"--request-id", "req-2", "--topic", "journey", "--replay-from", "0", "--count", "2"}));
  ASSERT_EQ(req2.size(), 2u);
  EXPECT_EQ(seqs(req2), (std::vector<uint64_t>{0, 3}));
  EXPECT_EQ(req2[0]["request.id"], "req-2");
  EXPECT_EQ(req2[1]["event.type"], "journey.SCHEDULED");
}

TEST_F(events_command, PrettyShowsEachRequestsTimeline) {
  const int64_t t0 = 8'500'000'000;
  publish(kTopicJourney, "engine-0",
          {journey(event_name::kQueued, "req-1", t0, 1, "WAITING", 0, 0)});
  HubEvent scheduled = journey(event_name::kScheduled, "req-1", t0 + 1'500'000, 2, "PREFILL", 0, 0);
  scheduled.attrs.emplace_back(std::string(attr::kScheduleKind), "FIRST"s);
  publish(kTopicJourney, "engine-0", {scheduled});
  publish(kTopicStep, "engine-0",
          {typed(event_name::kBatchSummary,
                 {{"step.id", int64_t{2}}, {"batch.scheduled_tokens", int64_t{37}}})});
  HubEvent finished =
      journey(event_name::kFinished, "req-1", t0 + 12'250'000, 18, "DECODE", 37, 16);
  finished.attrs.emplace_back(std::string(attr::kFinishStatus), "stopped"s);
  publish(kTopicJourney, "engine-0", {finished});

  const auto lines =
      lines_of(run_to_count({"--format", "pretty", "--replay-from", "0", "--count", "4"}));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0],
            "     +0.000 ms  req-1                 journey.QUEUED        step=1 phase=WAITING "
            "prefill=0/37 decode=0/16 preempt=0");
  EXPECT_EQ(lines[1],
            "     +1.500 ms  req-1                 journey.SCHEDULED     step=2 phase=PREFILL "
            "prefill=0/37 decode=0/16 preempt=0 kind=FIRST");
  EXPECT_EQ(lines[2],
            "            #2  step     step.BATCH_SUMMARY    step.id=2 batch.scheduled_tokens=37");
  EXPECT_EQ(lines[3],
            "    +12.250 ms  req-1                 journey.FINISHED      step=18 phase=DECODE "
            "prefill=37/37 decode=16/16 preempt=0 status=stopped");
}

// Replayed first, then live: each message once, in seq order, no gap.
TEST_F(events_command, ReplayThenLiveWithoutDuplicates) {
  for (int i = 0; i < 3; ++i) publish(kTopicStep, "engine-0", {typed(event_name::kBatchSummary)});
  const fs::path output = dir_.path() / "joined.txt";
  EventsProcess p(dir_.path(),
                  args({"--replay-from", "0", "--count", "6", "--output", output.string()}));
  ASSERT_TRUE(wait_until([&] { return lines_of(read_file(output)).size() == 3; }))
      << read_file(output) << p.err();
  for (int i = 0; i < 3; ++i) publish(kTopicKv, "engine-0", {typed(event_name::kBlockRemoved)});
  ASSERT_EQ(p.wait_exit(), std::optional<int>(0)) << p.err();
  const auto lines = parse_lines(read_file(output));
  EXPECT_EQ(seqs(lines), (std::vector<uint64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(lines[5]["topic"], "kv");
  EXPECT_EQ(p.err(), "");
}

// Live only: subscribed once a heartbeat shows in the output; SIGTERM then
// exits 0 with every line written.
TEST_F(events_command, LiveUntilSigterm) {
  const fs::path output = dir_.path() / "live.txt";
  EventsProcess p(dir_.path(), args({"--output", output.string()}));
  ASSERT_TRUE(wait_until([&] {
    publish("heartbeat", "test", {typed("test.HEARTBEAT")});
    return !read_file(output).empty();
  })) << p.err();
  publish(kTopicJourney, "frontend-0", {typed(event_name::kArrived, {{"request.id", "req-9"s}})});
  publish(kTopicJourney, "frontend-0", {typed(event_name::kDeparted, {{"request.id", "req-9"s}})});
  ASSERT_TRUE(
      wait_until([&] { return read_file(output).find("api.DEPARTED") != std::string::npos; }));
  p.signal(SIGTERM);
  ASSERT_EQ(p.wait_exit(), std::optional<int>(0)) << p.err();
  const auto lines = parse_lines(read_file(output));
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines.back()["event.type"], "api.DEPARTED");
  EXPECT_EQ(lines[lines.size() - 2]["event.type"], "api.ARRIVED");
  EXPECT_EQ(lines.back()["seq"].get<uint64_t>(), published_ - 1);
  EXPECT_EQ(p.err(), "");
}

// A hand-made hub that skips seqs and sends malformed messages.
TEST(events_command_gaps, ReportedOnStderrAndMalformedMessagesAreSkipped) {
  ScratchDir dir;
  zmq::context_t context;
  zmq::socket_t xpub(context, zmq::socket_type::xpub);
  xpub.set(zmq::sockopt::linger, 0);
  xpub.bind("tcp://127.0.0.1:*");
  const fs::path output = dir.path() / "out.txt";
  EventsProcess p(dir.path(), {"--connect", xpub.get(zmq::sockopt::last_endpoint), "--count", "5",
                               "--output", output.string()});
  ASSERT_TRUE(receive(xpub, 10s)) << "no subscription; stderr: " << p.err();

  const std::string step = payload("engine-0", {typed(event_name::kBatchSummary)});
  for (uint64_t s : {0, 1, 2}) send_parts(xpub, {"step", seq_bytes(s), step});
  send_parts(xpub, {"step", step});
  send_parts(xpub, {"step", seq_bytes(3), "not msgpack"});
  for (uint64_t s : {6, 7}) send_parts(xpub, {"step", seq_bytes(s), step});

  ASSERT_EQ(p.wait_exit(), std::optional<int>(0)) << p.err();
  EXPECT_EQ(seqs(parse_lines(read_file(output))), (std::vector<uint64_t>{0, 1, 2, 6, 7}));
  const std::string err = p.err();
  EXPECT_NE(err.find("waypoint events: gap: 2 message(s) lost (seq 4..5)\n"), std::string::npos)
      << err;
  EXPECT_NE(err.find("waypoint events: warning: malformed message: hub message must have 3 "
                     "frames, got 2\n"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("waypoint events: warning: seq 3 (topic step): malformed payload: "),
            std::string::npos)
      << err;
  EXPECT_EQ(lines_of(err).size(), 3u) << err;
}

// Gap detection spans the join of replay and live: the replay starts past
// --replay-from (the buffer lost it), live repeats the replay's tail (skipped)
// and then skips two.
TEST(events_command_gaps, SpanTheJoinOfReplayAndLive) {
  ScratchDir dir;
  zmq::context_t context;
  zmq::socket_t xpub(context, zmq::socket_type::xpub);
  xpub.set(zmq::sockopt::linger, 0);
  xpub.bind("tcp://127.0.0.1:*");
  zmq::socket_t router(context, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind("tcp://127.0.0.1:*");
  const fs::path output = dir.path() / "out.txt";
  EventsProcess p(dir.path(), {"--connect", xpub.get(zmq::sockopt::last_endpoint),
                               "--replay-endpoint", router.get(zmq::sockopt::last_endpoint),
                               "--replay-from", "2", "--count", "4", "--output", output.string()});
  ASSERT_TRUE(receive(xpub, 10s)) << "no subscription; stderr: " << p.err();
  auto request = receive(router, 10s);
  ASSERT_TRUE(request) << "no replay request; stderr: " << p.err();
  ASSERT_EQ(request->size(), 2u);
  EXPECT_EQ((*request)[1], seq_bytes(2));

  const auto message = [](uint64_t seq) {
    return payload("engine-0", {typed(event_name::kBatchSummary, {{"n", int64_t(seq)}})});
  };
  for (uint64_t s : {3, 4, 5, 9}) send_parts(xpub, {"step", seq_bytes(s), message(s)});
  const std::string& identity = (*request)[0];
  for (uint64_t s : {4, 5, 6}) send_parts(router, {identity, "step", seq_bytes(s), message(s)});
  send_parts(router, {identity, std::string(kTopicReplayEnd), seq_bytes(kReplayEndSeq), ""});

  ASSERT_EQ(p.wait_exit(), std::optional<int>(0)) << p.err();
  const auto lines = parse_lines(read_file(output));
  EXPECT_EQ(seqs(lines), (std::vector<uint64_t>{4, 5, 6, 9}));
  for (const auto& line : lines) EXPECT_EQ(line["n"], line["seq"]);
  EXPECT_EQ(p.err(),
            "waypoint events: gap: 2 message(s) lost (seq 2..3), no longer in the hub's buffer\n"
            "waypoint events: gap: 2 message(s) lost (seq 7..8)\n");
}

TEST(events_command_signals, SigintExitsZero) {
  ScratchDir dir;
  zmq::context_t context;
  zmq::socket_t xpub(context, zmq::socket_type::xpub);
  xpub.set(zmq::sockopt::linger, 0);
  xpub.bind("tcp://127.0.0.1:*");
  EventsProcess p(dir.path(), {"--connect", xpub.get(zmq::sockopt::last_endpoint)});
  ASSERT_TRUE(receive(xpub, 10s)) << "no subscription; stderr: " << p.err();
  send_parts(xpub, {"step", seq_bytes(0), payload("engine-0", {typed(event_name::kBatchSummary)})});
  ASSERT_TRUE(wait_until([&] { return !p.out().empty(); })) << p.err();
  p.signal(SIGINT);
  ASSERT_EQ(p.wait_exit(), std::optional<int>(0)) << p.err();
  EXPECT_EQ(parse_lines(p.out()).size(), 1u);
  EXPECT_EQ(p.err(), "");
}

struct Ran {
  int code;
  std::string out;
  std::string err;
};

Ran run_events(std::vector<std::string> args) {
  args.insert(args.begin(), "events");
  std::ostringstream out, err;
  const int code = cli::run(args, out, err);
  return {code, out.str(), err.str()};
}

TEST(events_command_flags, HelpExitsZero) {
  const Ran r = run_events({"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("Usage: waypoint events"), std::string::npos);
  EXPECT_NE(r.out.find("--replay-endpoint"), std::string::npos);
  EXPECT_NE(r.out.find("next port"), std::string::npos);
  EXPECT_EQ(r.err, "");

  std::ostringstream out, err;
  EXPECT_EQ(cli::run({"--help"}, out, err), 0);
  EXPECT_NE(out.str().find("  events "), std::string::npos);
}

TEST(events_command_flags, BadFlagsExitTwoNamingTheFlag) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--format", "xml"}, "--format"},
      {{"--count", "0"}, "--count"},
      {{"--count", "-3"}, "--count"},
      {{"--count", "many"}, "--count"},
      {{"--replay-from", "-1"}, "--replay-from"},
      {{"--replay-from", "1x"}, "--replay-from"},
      {{"--topic", ","}, "--topic"},
      {{"--request-id", ""}, "--request-id"},
      {{"--connect"}, "--connect"},
      {{"--connect", ""}, "--connect"},
      {{"--no-such-flag"}, "--no-such-flag"},
      {{"--connect", "ipc:///tmp/hub", "--replay-from", "0"}, "--replay-endpoint"},
      {{"--connect", "tcp://127.0.0.1:*", "--replay-from", "0"}, "--replay-endpoint"},
      {{"--connect", "nonsense://x"}, "--connect"},
  };
  for (const auto& [args, flag] : cases) {
    const Ran r = run_events(args);
    EXPECT_EQ(r.code, cli::kExitUsage) << flag << ": " << r.err;
    EXPECT_NE(r.err.find(flag), std::string::npos) << r.err;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST(events_command_flags, BinaryExitCodes) {
  ScratchDir dir;
  EventsProcess bad(dir.path(), {"--format", "xml"});
  EXPECT_EQ(bad.wait_exit(), std::optional<int>(2));
  EXPECT_EQ(bad.err(), "waypoint events: --format 'xml' is not one of jsonl, pretty\n");
  EventsProcess help(dir.path(), {"--help"});
  EXPECT_EQ(help.wait_exit(), std::optional<int>(0));
  EXPECT_NE(help.out().find("Usage: waypoint events"), std::string::npos);
}

TEST(events_command_flags, DefaultReplayEndpointIsTheNextPort) {
  EXPECT_EQ(*cli::default_replay_endpoint("tcp://127.0.0.1:5557"), "tcp://127.0.0.1:5558");
  EXPECT_EQ(*cli::default_replay_endpoint("tcp://example.com:9"), "tcp://example.com:10");
  EXPECT_EQ(*cli::default_replay_endpoint("tcp://[::1]:7000"), "tcp://[::1]:7001");
  EXPECT_FALSE(cli::default_replay_endpoint("ipc:///tmp/events").ok());
  EXPECT_FALSE(cli::default_replay_endpoint("tcp://127.0.0.1:*").ok());
  EXPECT_FALSE(cli::default_replay_endpoint("tcp://127.0.0.1:65535").ok());
  EXPECT_FALSE(cli::default_replay_endpoint("tcp://localhost").ok());
}

TEST(events_command_format, JsonKeepsTheEnvelopeFirst) {
  const HubPayload p{1.0, "engine-0", {}};
  const HubEvent e = typed("x.Y", {{"seq", int64_t{99}}, {"b", 0.25}, {"a", "s"s}});
  EXPECT_EQ(hub_event_jsonl(7, "journey", p, e),
            R"({"seq":7,"topic":"journey","producer":"engine-0","event.type":"x.Y","b":0.25,)"
            R"("a":"s"})");
  // Not UTF-8: replaced, not thrown.
  const HubEvent bad = typed("x.Y", {{"text", "\xff\xfe"s}});
  EXPECT_NE(hub_event_jsonl(1, "kv", p, bad).find(R"("text":")"), std::string::npos);
}

TEST(events_command_format, PrettyListsOtherAttributesCompactly) {
  PrettyPrinter printer;
  const HubPayload p{1.0, "engine-0", {}};
  const HubEvent kv =
      typed(event_name::kBlockStored,
            {{"kv.block_hashes", std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
             {"kv.block_size", int64_t{16}},
             {"why", "two words"s},
             {"ratio", 0.5},
             {"ts.epoch_ns", int64_t{1}}});
  EXPECT_EQ(
      printer.line(12345, "kv", p, kv),
      "        #12345  kv       kv.BlockStored        kv.block_hashes=[1,2,3,4,5,6,7,8,...+2] "
      "kv.block_size=16 why=\"two words\" ratio=0.5");
  // A request event with no timestamp has no place on a timeline.
  EXPECT_EQ(printer.line(1, "journey", p, typed(event_name::kArrived, {{"request.id", "r"s}})),
            "          ? ms  r                     api.ARRIVED");
  EXPECT_EQ(printer.tracked_requests(), 0u);
}

TEST(events_command_format, PrettyShowsAStepOnOneLineAndSnapshotsOffTheTimelines) {
  PrettyPrinter printer;
  const HubPayload p{1.0, "engine-0", {}};
  StepRecord record;
  record.summary = {.step_id = 9, .ts_start_ns = 0, .ts_end_ns = 1'500'000, .duration_us = 1500,
                    .schedule_us = 20, .execute_us = 1400, .update_us = 80, .gap_us = 3,
                    .running_depth = 2, .waiting_depth = 1, .num_prefill_reqs = 1,
                    .num_decode_reqs = 1, .scheduled_tokens = 17, .prefill_tokens = 16,
                    .decode_tokens = 1, .kv_usage = 0.25, .kv_blocks_total = 8,
                    .kv_blocks_free = 6};
  record.snapshots.push_back({.request_id = "r1", .phase = RequestPhase::PREFILL,
                              .num_prompt_tokens = 40, .num_computed_tokens = 16,
                              .scheduled_tokens_this_step = 16, .kv_blocks_allocated = 2});
  const auto events = step_hub_events(record, 0);
  EXPECT_EQ(printer.line(3, "step", p, events[0]),
            "            #3  step     step.BATCH_SUMMARY    step=9 1500us (sched 20 exec 1400 upd "
            "80 gap 3) running=2 waiting=1 prefill=1/16tok decode=1/1tok finished=0 preempted=0 "
            "kv=0.25 free=6/8");
  EXPECT_EQ(printer.line(4, "step", p, events[1]),
            "            #4  step     step.REQUEST_SNAPSHOT step=9 req=r1 phase=PREFILL "
            "computed=16/40 scheduled=16 out=0 preempt=0 blocks=2 cached=0");
  EXPECT_EQ(printer.tracked_requests(), 0u);
}

TEST(events_command_format, PrettyForgetsEndedRequests) {
  PrettyPrinter printer;
  const HubPayload p{1.0, "frontend-0", {}};
  const auto at = [](std::string_view type, int64_t ms) {
    return typed(type, {{"request.id", "r1"s}, {"ts.monotonic_ns", ms * 1'000'000}});
  };
  printer.line(0, "journey", p, at(event_name::kArrived, 100));
  EXPECT_EQ(printer.tracked_requests(), 1u);
  // The core's FINISHED and the API's DEPARTED both end it; the second
  // still measures from the first event.
  printer.line(1, "journey", p, at(event_name::kFinished, 130));
  EXPECT_EQ(printer.tracked_requests(), 1u);
  EXPECT_NE(printer.line(2, "journey", p, at(event_name::kDeparted, 131)).find("+31.000 ms"),
            std::string::npos);
  EXPECT_EQ(printer.tracked_requests(), 0u);

  // Aborted alone, then seen again later: a fresh timeline.
  printer.line(3, "journey", p, at(event_name::kArrived, 200));
  EXPECT_NE(printer.line(4, "journey", p, at(event_name::kAborted, 205)).find("+5.000 ms"),
            std::string::npos);
}

TEST(events_command_format, PrettyBoundsTheRequestsItTracks) {
  PrettyPrinter printer(/*max_tracked_requests=*/3);
  const HubPayload p{1.0, "engine-0", {}};
  for (int i = 0; i < 10; ++i) {
    printer.line(
        static_cast<uint64_t>(i), "journey", p,
        typed(event_name::kQueued, {{"request.id", std::string("r").append(std::to_string(i))},
                                    {"ts.monotonic_ns", int64_t{i} * 1'000'000}}));
    EXPECT_LE(printer.tracked_requests(), 3u);
  }
  // r9 is still known, r0 was forgotten and starts over.
  const auto later = [&](const std::string& id) {
    return printer.line(99, "journey", p,
                        typed(event_name::kScheduled,
                              {{"request.id", id}, {"ts.monotonic_ns", int64_t{20'000'000}}}));
  };
  EXPECT_NE(later("r9").find("+11.000 ms"), std::string::npos);
  EXPECT_NE(later("r0").find("+0.000 ms"), std::string::npos);
  EXPECT_LE(printer.tracked_requests(), 3u);
}

}  // namespace
}  // namespace waypoint
