#include "tools/events_command.hpp"

#include <signal.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>
#include <vector>

#include <boost/program_options.hpp>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "base/command_line.hpp"
#include "base/signal_watch.hpp"
#include "proto/event_hub_frame.hpp"
#include "proto/zmq_receive.hpp"
#include "telemetry/trace_attributes.hpp"
#include "tools/event_format.hpp"

namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

namespace waypoint::cli {

namespace {

// A replay that stays silent this long is given up on; live messages still flow.
constexpr auto kReplayQuiet = std::chrono::seconds(10);
// How long a replay waits for the subscription's handshake, so that what is
// published between the replay and the subscription is not lost.
constexpr auto kSubscribeWait = std::chrono::seconds(2);
// Messages read before the signal descriptor is looked at again.
constexpr int kBurst = 256;

struct EventsOptions {
  std::string connect = "tcp://127.0.0.1:5557";
  std::vector<std::string> topics;  // empty: every topic
  std::optional<std::string> request_id;
  bool pretty = false;
  std::optional<uint64_t> replay_from;
  std::string replay_endpoint;
  uint64_t count = 0;  // 0: until interrupted
  std::string output;
};

std::optional<uint64_t> parse_u64(const std::string& text) {
  uint64_t v = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return v;
}

// stdout or --output, flushed at every line so `tail -f` and pipes see each
// event as it comes, and nothing is held back when a signal ends the run.
class Output {
 public:
  explicit Output(std::ostream& standard) : out_(&standard) {}

  Result<void> open(const std::string& path) {
    file_.open(path, std::ios::out | std::ios::trunc);
    if (!file_) return Error{"cannot open --output " + path + ": " + std::strerror(errno)};
    out_ = &file_;
    name_ = path;
    return {};
  }
  bool write_line(const std::string& line) {
    *out_ << line << '\n';
    out_->flush();
    return static_cast<bool>(*out_);
  }
  const std::string& name() const { return name_; }

 private:
  std::ofstream file_;
  std::ostream* out_;
  std::string name_ = "stdout";
};

// Turns hub messages into output lines: checks the seq for gaps and
// duplicates, filters, decodes and formats.
class Printer {
 public:
  enum class Source { kReplay, kLive };
  enum class Next { kMore, kDone, kFailed };

  Printer(const EventsOptions& options, Output& output, std::ostream& err)
      : options_(options), output_(output), err_(err) {
    if (options_.replay_from) {
      expected_ = *options_.replay_from;
      joined_ = false;
    }
  }

  Next handle(const std::vector<zmq::message_t>& parts, Source source) {
    std::vector<std::string_view> views;
    for (const auto& part : parts) views.push_back(part.to_string_view());
    auto frame = decode_hub_frame(views);
    if (!frame) {
      warn("malformed message: " + frame.error().message);
      return Next::kMore;
    }
    if (!accept_seq(frame->seq, source)) return Next::kMore;
    if (!wanted_topic(frame->topic)) return Next::kMore;
    auto payload = decode_hub_payload(frame->payload);
    if (!payload) {
      warn("seq " + std::to_string(frame->seq) + " (topic " + frame->topic +
           "): malformed payload: " + payload.error().message);
      return Next::kMore;
    }
    for (const HubEvent& event : payload->events) {
      if (options_.request_id && !has_request_id(event, *options_.request_id)) continue;
      const std::string line = options_.pretty
                                   ? pretty_.line(frame->seq, frame->topic, *payload, event)
                                   : hub_event_jsonl(frame->seq, frame->topic, *payload, event);
      if (!output_.write_line(line)) {
        err_ << "waypoint events: cannot write to " << output_.name() << "\n";
        return Next::kFailed;
      }
      if (options_.count > 0 && ++printed_ >= options_.count) return Next::kDone;
    }
    return Next::kMore;
  }

 private:
  // False for a message already printed (a live message the replay had).
  bool accept_seq(uint64_t seq, Source source) {
    if (expected_ && seq < *expected_) {
      if (!joined_) return false;
      warn("seq went back from " + std::to_string(*expected_ - 1) + " to " + std::to_string(seq) +
           ": the hub restarted");
    } else if (expected_ && seq > *expected_) {
      // The replay's first message is past --replay-from when the hub's
      // buffer no longer holds the start.
      const bool evicted = source == Source::kReplay && !seen_any_;
      err_ << "waypoint events: gap: " << seq - *expected_ << " message(s) lost (seq " << *expected_
           << ".." << seq - 1 << ")" << (evicted ? ", no longer in the hub's buffer" : "") << "\n";
    }
    if (source == Source::kLive) joined_ = true;
    seen_any_ = true;
    expected_ = seq + 1;
    return true;
  }

  bool wanted_topic(std::string_view topic) const {
    if (options_.topics.empty()) return true;
    for (const auto& t : options_.topics) {
      if (t == topic) return true;
    }
    return false;
  }

  static bool has_request_id(const HubEvent& event, const std::string& id) {
    const AttrValue* v = event.find(attr::kRequestId);
    if (v == nullptr) return false;
    if (const auto* s = std::get_if<std::string>(v)) return *s == id;
    if (const auto* i = std::get_if<int64_t>(v)) return std::to_string(*i) == id;
    return false;
  }

  void warn(const std::string& message) { err_ << "waypoint events: warning: " << message << "\n"; }

  const EventsOptions& options_;
  Output& output_;
  std::ostream& err_;
  PrettyPrinter pretty_;
  std::optional<uint64_t> expected_;  // the next seq; unset until the first message
  bool joined_ = true;                // false while live messages may repeat the replay
  bool seen_any_ = false;
  uint64_t printed_ = 0;
};

bool is_replay_end(const std::vector<zmq::message_t>& parts) {
  if (parts.size() != 3 || parts[0].to_string_view() != kTopicReplayEnd) return false;
  auto seq = decode_seq(parts[1].to_string_view());
  return seq && *seq == kReplayEndSeq;
}

// Connects the SUB; with `wait`, returns once the connection's handshake is
// done (the subscription then goes out on it at once), or when `wait` runs
// out because no hub answers.
void connect_subscriber(zmq::context_t& context, zmq::socket_t& sub, const std::string& endpoint,
                        std::chrono::milliseconds wait) {
  const char* monitor_address = "inproc://waypoint-events-subscriber";
  if (wait.count() <= 0 ||
      zmq_socket_monitor(sub.handle(), monitor_address, ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0) {
    sub.connect(endpoint);
    return;
  }
  // Connected before the SUB is, so the event cannot be missed.
  zmq::socket_t monitor(context, zmq::socket_type::pair);
  monitor.set(zmq::sockopt::linger, 0);
  monitor.connect(monitor_address);
  try {
    sub.connect(endpoint);
    zmq::pollitem_t item{monitor.handle(), 0, ZMQ_POLLIN, 0};
    poll_through_signals(&item, 1, wait);
  } catch (...) {
    zmq_socket_monitor(sub.handle(), nullptr, 0);
    throw;
  }
  zmq_socket_monitor(sub.handle(), nullptr, 0);
}

// Reads every message `socket` has ready, up to a burst. kMore: keep going.
template <class Handle>
Printer::Next drain(zmq::socket_t& socket, Handle handle) {
  for (int i = 0; i < kBurst; ++i) {
    std::vector<zmq::message_t> parts;
    if (!zmq::recv_multipart(socket, std::back_inserter(parts), zmq::recv_flags::dontwait)) break;
    const Printer::Next next = handle(parts);
    if (next != Printer::Next::kMore) return next;
  }
  return Printer::Next::kMore;
}

int exit_code(Printer::Next next) {
  return next == Printer::Next::kFailed ? kExitFailure : kExitOk;
}

int stream_events(const EventsOptions& o, std::ostream& out, std::ostream& err) {
  std::optional<SignalWatch> signals;
  try {
    signals.emplace(std::initializer_list<int>{SIGINT, SIGTERM});
  } catch (const std::runtime_error& e) {
    err << "waypoint events: " << e.what() << "\n";
    return kExitFailure;
  }
  Output output(out);
  if (!o.output.empty()) {
    if (auto opened = output.open(o.output); !opened) {
      err << "waypoint events: " << opened.error().message << "\n";
      return kExitFailure;
    }
  }
  Printer printer(o, output, err);

  zmq::context_t context(1);
  zmq::socket_t sub(context, zmq::socket_type::sub);
  sub.set(zmq::sockopt::linger, 0);
  // Every topic is taken and filtered here: a seq gap is then a real loss,
  // never a message of a topic this subscriber did not ask for.
  sub.set(zmq::sockopt::subscribe, "");
  std::optional<zmq::socket_t> replay;
  try {
    connect_subscriber(
        context, sub, o.connect,
        o.replay_from ? std::chrono::milliseconds(kSubscribeWait) : std::chrono::milliseconds(0));
  } catch (const zmq::error_t& e) {
    err << "waypoint events: --connect " << o.connect << ": " << e.what() << "\n";
    return kExitUsage;
  }
  if (o.replay_from) {
    replay.emplace(context, zmq::socket_type::dealer);
    replay->set(zmq::sockopt::linger, 0);
    replay->set(zmq::sockopt::rcvhwm, 0);  // the whole replay, however long
    try {
      replay->connect(o.replay_endpoint);
    } catch (const zmq::error_t& e) {
      err << "waypoint events: --replay-endpoint " << o.replay_endpoint << ": " << e.what() << "\n";
      return kExitUsage;
    }
    const auto start = encode_seq(*o.replay_from);
    replay->send(zmq::buffer(start), zmq::send_flags::none);
  }

  // While the replay runs, live messages wait in the SUB's queue; the ones
  // the replay also had are skipped by seq.
  auto last_replayed = Clock::now();
  while (replay) {
    zmq::pollitem_t items[] = {{nullptr, signals->fd(), ZMQ_POLLIN, 0},
                               {replay->handle(), 0, ZMQ_POLLIN, 0}};
    poll_through_signals(items, 2, std::chrono::milliseconds(200));
    if (items[0].revents & ZMQ_POLLIN) return kExitOk;
    bool ended = false;
    if (items[1].revents & ZMQ_POLLIN) {
      last_replayed = Clock::now();
      const Printer::Next next = drain(*replay, [&](const std::vector<zmq::message_t>& parts) {
        if (is_replay_end(parts)) {
          ended = true;
          return Printer::Next::kDone;
        }
        return printer.handle(parts, Printer::Source::kReplay);
      });
      if (next != Printer::Next::kMore && !ended) return exit_code(next);
    }
    if (ended) {
      replay.reset();
    } else if (Clock::now() - last_replayed > kReplayQuiet) {
      err << "waypoint events: no replay from " << o.replay_endpoint << " in "
          << std::chrono::duration_cast<std::chrono::seconds>(kReplayQuiet).count()
          << " s; going on with live events\n";
      replay.reset();
    }
  }

  while (true) {
    zmq::pollitem_t items[] = {{nullptr, signals->fd(), ZMQ_POLLIN, 0},
                               {sub.handle(), 0, ZMQ_POLLIN, 0}};
    poll_through_signals(items, 2, std::chrono::milliseconds(-1));
    if (items[0].revents & ZMQ_POLLIN) return kExitOk;
    if (items[1].revents & ZMQ_POLLIN) {
      const Printer::Next next = drain(sub, [&](const std::vector<zmq::message_t>& parts) {
        return printer.handle(parts, Printer::Source::kLive);
      });
      if (next != Printer::Next::kMore) return exit_code(next);
    }
  }
}

std::vector<std::string> split_topics(const std::vector<std::string>& given) {
  std::vector<std::string> topics;
  for (const auto& item : given) {
    std::stringstream in(item);
    std::string topic;
    while (std::getline(in, topic, ',')) {
      if (!topic.empty()) topics.push_back(topic);
    }
  }
  return topics;
}

int run_events(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  EventsOptions o;
  std::vector<std::string> topics;
  std::string request_id, format, replay_from, count;
  CommandLine cl("events",
                 "Usage: waypoint events [--connect URL] [--topic T] [--request-id ID] "
                 "[--format jsonl|pretty]\n"
                 "                       [--replay-from SEQ] [--replay-endpoint URL] [--count N] "
                 "[--output FILE]\n\n"
                 "Prints the event hub's messages, one event per line. A jsonl line is the "
                 "event's\nattributes after \"seq\", \"topic\" and \"producer\". Lost messages "
                 "show as seq gaps,\nreported on stderr. SIGINT or SIGTERM exits 0.\n\n");
  cl.options().add_options()("connect", po::value(&o.connect)->default_value(o.connect),
                             "the hub's event endpoint (serve --event-endpoint)")(
      "topic", po::value(&topics)->composing(),
      "only this topic (journey, step, kv, ...); repeat it or separate with commas")(
      "request-id", po::value(&request_id), "only the events of this request")(
      "format", po::value(&format)->default_value("jsonl"),
      "jsonl (one JSON object per event) or pretty (one readable line per event)")(
      "replay-from", po::value(&replay_from),
      "first print the hub's buffered messages from this seq on, then live ones")(
      "replay-endpoint", po::value(&o.replay_endpoint),
      "the hub's replay endpoint (serve --event-replay-endpoint); default: the --connect "
      "address with the next port, tcp only")("count", po::value(&count),
                                              "exit after printing this many events")(
      "output", po::value(&o.output), "write to this file instead of stdout");
  if (auto exit = cl.parse_or_exit(args, out, err)) return *exit;
  const auto usage = [&](const std::string& message) { return cl.usage_error(err, message); };

  if (o.connect.empty()) return usage("--connect must not be empty");
  o.topics = split_topics(topics);
  if (cl.given("topic") && o.topics.empty()) return usage("--topic names no topic");
  if (cl.given("request-id")) {
    if (request_id.empty()) return usage("--request-id must not be empty");
    o.request_id = request_id;
  }
  if (format != "jsonl" && format != "pretty") {
    return usage("--format '" + format + "' is not one of jsonl, pretty");
  }
  o.pretty = format == "pretty";
  if (cl.given("count")) {
    const auto n = parse_u64(count);
    if (!n || *n == 0) return usage("--count '" + count + "' is not a positive integer");
    o.count = *n;
  }
  if (cl.given("replay-from")) {
    o.replay_from = parse_u64(replay_from);
    if (!o.replay_from || *o.replay_from == kReplayEndSeq) {
      return usage("--replay-from '" + replay_from + "' is not a sequence number");
    }
    if (o.replay_endpoint.empty()) {
      auto implied = default_replay_endpoint(o.connect);
      if (!implied) return usage(implied.error().message);
      o.replay_endpoint = *implied;
    }
  }
  return stream_events(o, out, err);
}

}  // namespace

Result<std::string> default_replay_endpoint(const std::string& connect) {
  const std::string_view tcp = "tcp://";
  const size_t colon = connect.rfind(':');
  if (connect.rfind(tcp, 0) != 0 || colon == std::string::npos || colon < tcp.size()) {
    return Error{"--replay-endpoint is needed: --connect " + connect +
                 " is not a tcp://HOST:PORT address"};
  }
  const auto port = parse_u64(connect.substr(colon + 1));
  if (!port || *port == 0 || *port >= 65535) {
    return Error{"--replay-endpoint is needed: --connect " + connect +
                 " has no port the next one can follow"};
  }
  return connect.substr(0, colon + 1) + std::to_string(*port + 1);
}

Subcommand events_subcommand() {
  return {"events", "print the event hub's journey, step and KV events", run_events};
}

}  // namespace waypoint::cli
