#include "launcher/serve_command.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "base/log.hpp"
#include "engine_core/engine_core_process.hpp"
#include "frontend/frontend_process.hpp"
#include "launcher/event_hub.hpp"
#include "launcher/process_supervisor.hpp"
#include "launcher/serve_plan.hpp"
#include "modelgen/demo_model.hpp"
#include "proto/control_channel.hpp"
#include "worker/device_selection.hpp"
#include "worker/llama_weights.hpp"
#include "worker/model_config.hpp"
#include "worker/shm_tp_group.hpp"
#include "worker/worker_process.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace waypoint::cli {

namespace {

// A worker's KV_BLOCKS payload: {"num_blocks": N}.
Result<int32_t> parse_kv_blocks(const std::string& payload) {
  try {
    const auto blocks = nlohmann::json::parse(payload).at("num_blocks").get<int32_t>();
    if (blocks < 0) return Error{"a negative block count"};
    return blocks;
  } catch (const nlohmann::json::exception& e) {
    return Error{e.what()};
  }
}

// Holds the run's private directory (its ZMQ ipc sockets) and the tensor-
// parallel region, and removes both however the launcher leaves.
class RunFiles {
 public:
  RunFiles() {
    std::string templ = (fs::temp_directory_path() / "waypoint-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) {
      throw std::runtime_error("cannot create a run directory in " +
                               fs::temp_directory_path().string());
    }
    dir_ = templ;
  }
  ~RunFiles() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    if (!shm_.empty()) fs::remove(shm_, ec);
  }
  RunFiles(const RunFiles&) = delete;
  RunFiles& operator=(const RunFiles&) = delete;

  std::string ipc(const std::string& name) const { return "ipc://" + (dir_ / name).string(); }
  void set_shm(std::string path) { shm_ = std::move(path); }

 private:
  fs::path dir_;
  std::string shm_;
};

// Keeps an ephemeral port ours until the frontends listen on it: they bind
// it with SO_REUSEPORT, and so does this socket.
class PortReservation {
 public:
  PortReservation(const std::string& host, int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    if (fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
    const int yes = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof yes);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
      ::close(fd_);
      throw std::runtime_error("--host must be an IPv4 address, got '" + host + "'");
    }
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      const std::string why = std::strerror(errno);
      ::close(fd_);
      throw std::runtime_error("cannot bind " + host + ":" + std::to_string(port) + ": " + why);
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~PortReservation() { release(); }
  PortReservation(const PortReservation&) = delete;
  PortReservation& operator=(const PortReservation&) = delete;
  uint16_t port() const { return port_; }
  void release() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
  uint16_t port_ = 0;
};

// SIGINT, SIGTERM as readable events on a descriptor, polled with the
// control socket; blocked for ordinary delivery while the launcher runs.
class SignalFd {
 public:
  SignalFd() {
    sigemptyset(&mask_);
    sigaddset(&mask_, SIGINT);
    sigaddset(&mask_, SIGTERM);
    sigaddset(&mask_, SIGPIPE);
    ::sigprocmask(SIG_BLOCK, &mask_, &old_);
    fd_ = ::signalfd(-1, &mask_, SFD_NONBLOCK | SFD_CLOEXEC);
  }
  ~SignalFd() {
    ::close(fd_);
    ::sigprocmask(SIG_SETMASK, &old_, nullptr);
  }
  SignalFd(const SignalFd&) = delete;
  SignalFd& operator=(const SignalFd&) = delete;
  int fd() const { return fd_; }
  std::optional<int> take() {
    signalfd_siginfo info{};
    if (::read(fd_, &info, sizeof info) != sizeof info) return std::nullopt;
    return static_cast<int>(info.ssi_signo);
  }

 private:
  sigset_t mask_{};
  sigset_t old_{};
  int fd_ = -1;
};

int run_serve(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto parsed = parse_serve_options(args);
  if (!parsed) {
    err << "waypoint serve: " << parsed.error().message << "\n";
    return kExitUsage;
  }
  if (!parsed->help.empty()) {
    out << parsed->help;
    return kExitOk;
  }
  ServeOptions o = parsed->options;
  auto usage = [&](const std::string& message) {
    err << "waypoint serve: " << message << "\n";
    return kExitUsage;
  };

  Logger log("serve");
  // --device first: a machine or a build that cannot run CUDA says so at once,
  // before any model is read.
  const std::string requested_device = o.device;
  {
    const CudaAvailability cuda = o.device == "cpu" ? CudaAvailability{} : probe_cuda();
    auto device = select_device(o.device, cuda, o.tensor_parallel_size);
    if (!device) return usage(device.error().message);
    o.device = std::string(device_name(*device));
  }
  if (o.model.empty()) {
    auto dir = demo_model(log);
    if (!dir) {
      err << "waypoint serve: " << dir.error().message << "\n";
      return kExitFailure;
    }
    o.model = *dir;
  }
  auto model = load_model_config(o.model);
  if (!model) {
    err << "waypoint serve: " << model.error().message << "\n";
    return kExitFailure;
  }
  if (auto ok = check_tp_divides(*model, o.tensor_parallel_size); !ok) {
    return usage(ok.error().message);
  }
  if (o.device == "cuda") {
    if (auto ok = check_cuda_model(*model); !ok) {
      if (requested_device == "cuda") return usage("--device cuda: " + ok.error().message);
      // auto picks the backend that can run this model.
      log.info("--device auto: serving on cpu, since " + ok.error().message);
      o.device = "cpu";
    }
  }
  log.info("device: " + o.device +
           (requested_device == o.device ? "" : " (--device " + requested_device + ")"));
  if (!fs::exists(fs::path(o.model) / "tokenizer.json")) {
    err << "waypoint serve: " << (fs::path(o.model) / "tokenizer.json").string()
        << " is missing; the server needs the model's tokenizer\n";
    return kExitFailure;
  }

  auto scheduler = scheduler_config(o, *model);
  if (!scheduler) return usage(scheduler.error().message);
  SchedulerConfig sc = *scheduler;
  // On cuda without a fixed size, the workers measure the KV pool (see bring-up).
  const bool kv_measured = sc.num_blocks == 0;

  try {
    RunFiles files;
    SignalFd signals;
    std::optional<PortReservation> reservation;
    reservation.emplace(o.host, o.port);
    const uint16_t port = reservation->port();

    ServeEndpoints endpoints;
    endpoints.steps = files.ipc("steps");
    endpoints.replies = files.ipc("replies");
    endpoints.event_intake = files.ipc("events");
    for (int i = 0; i < o.api_server_count; ++i) {
      endpoints.frontend_requests.push_back(files.ipc("frontend-" + std::to_string(i) + "-requests"));
      endpoints.frontend_outputs.push_back(files.ipc("frontend-" + std::to_string(i) + "-outputs"));
      endpoints.frontend_metrics.push_back(files.ipc("frontend-" + std::to_string(i) + "-metrics"));
    }
    if (o.tensor_parallel_size > 1 && o.device == "cpu") {
      endpoints.tp_shm_path = "/dev/shm/waypoint-" + std::to_string(::getpid()) + "-tp";
      auto ok = ShmTpGroup::create_file(
          endpoints.tp_shm_path, o.tensor_parallel_size,
          tp_max_floats(sc.max_num_batched_tokens, model->hidden_size), kTpMessageBytes);
      if (!ok) throw std::runtime_error(ok.error().message);
      files.set_shm(endpoints.tp_shm_path);
    }
    ServePlan plan = make_serve_plan(o, sc, endpoints, port);

    // The hub first: producers connect to it as they start.
    zmq::context_t context(1);
    EventHub hub(context, {endpoints.event_intake, o.event_endpoint, o.event_replay_endpoint,
                           static_cast<size_t>(o.event_buffer)});
    log.info("event hub on " + hub.publish_endpoint() + " (replay " + hub.replay_endpoint() +
             ")" + (o.enable_journey_tracing ? "; journey tracing on" : "") +
             (o.kv_events ? "; kv events on" : "") +
             (o.step_tracing_enabled ? "; step tracing on" : "") +
             (o.otlp_traces_endpoint.empty() ? "" : "; OTLP spans to " + o.otlp_traces_endpoint));

    // Every child's configuration, by the name it will say HELLO with.
    std::map<std::string, std::string> configs;
    std::vector<std::pair<std::string, std::string>> to_start;  // name, subcommand
    for (const auto& w : plan.workers) {
      const std::string name = "worker-" + std::to_string(w.rank);
      configs[name] = to_json_text(w);
      to_start.emplace_back(name, "worker");
    }
    configs["engine-0"] = to_json_text(plan.engine);
    // The engine's scheduler needs the KV pool's size: when the workers measure
    // it, the engine starts once they have (below).
    if (!kv_measured) to_start.emplace_back("engine-0", "engine-core");
    for (const auto& f : plan.frontends) {
      const std::string name = "frontend-" + std::to_string(f.client_index);
      configs[name] = to_json_text(f);
      to_start.emplace_back(name, "frontend");
    }

    const std::string control_endpoint = files.ipc("control");
    control::Server control(context, control_endpoint);
    ProcessSupervisor children;
    auto start = [&](const std::string& name, const std::string& command) {
      auto pid = children.spawn(name, {command, "--control", control_endpoint, "--name", name});
      if (!pid) throw std::runtime_error(pid.error().message);
      log.info("started " + name + " (pid " + std::to_string(*pid) + ")");
    };
    for (const auto& [name, command] : to_start) start(name, command);
    auto worker_rank = [](const std::string& name) -> int {
      return name.rfind("worker-", 0) == 0 ? std::stoi(name.substr(7)) : -1;
    };

    // Bring-up: HELLO -> CONFIG -> READY from every child, or a named failure.
    std::set<std::string> said_hello, ready;
    std::optional<std::string> failure;
    std::optional<std::string> nccl_id;         // from worker-0, for ranks 1..
    std::map<std::string, int32_t> kv_reports;  // blocks each CUDA rank can hold
    const auto deadline = Clock::now() + std::chrono::seconds(o.startup_timeout);
    while (!failure && ready.size() < configs.size()) {
      if (auto sig = signals.take(); sig && *sig != SIGPIPE) {
        failure = std::string("interrupted during startup");
        break;
      }
      if (auto exit = children.reap()) {
        failure = exit->name + " (pid " + std::to_string(exit->pid) + ") " + exit->describe() +
                  " during startup";
        break;
      }
      if (Clock::now() > deadline) {
        std::string late;
        for (const auto& [name, text] : configs) {
          if (ready.count(name)) continue;
          const bool waiting_for_kv = name == "engine-0" && kv_measured && !children.running(name);
          late += (late.empty() ? "" : ", ") + name +
                  (waiting_for_kv ? " (not started: the workers have not sized the KV cache)"
                   : said_hello.count(name) ? " (configured, not ready)"
                                            : " (never said HELLO)");
        }
        failure = "not ready within --startup-timeout " + std::to_string(o.startup_timeout) +
                  " s: " + late;
        break;
      }
      auto received = control.receive(std::chrono::milliseconds(50));
      if (!received) continue;
      const auto& [from, message] = *received;
      if (!configs.count(from)) continue;
      if (message.kind == control::kHello) {
        said_hello.insert(from);
        control.send(from, control::kConfig, configs[from]);
        if (nccl_id && worker_rank(from) > 0) control.send(from, control::kNcclId, *nccl_id);
      } else if (message.kind == control::kNcclId && worker_rank(from) == 0) {
        // Rank 0 made the NCCL id; the other ranks join with it.
        nccl_id = message.payload;
        for (const auto& name : said_hello) {
          if (worker_rank(name) > 0) control.send(name, control::kNcclId, *nccl_id);
        }
      } else if (message.kind == control::kKvBlocks && worker_rank(from) >= 0 && kv_measured) {
        auto blocks = parse_kv_blocks(message.payload);
        if (!blocks) {
          failure = from + " sent a malformed KV_BLOCKS: " + blocks.error().message;
          break;
        }
        kv_reports[from] = *blocks;
        if (kv_reports.size() < plan.workers.size()) continue;
        // Every rank allocates the same pool, so the smallest rank's room decides.
        int32_t least = INT32_MAX;
        for (const auto& [name, n] : kv_reports) least = std::min(least, n);
        sc.num_blocks = least;
        if (auto ok = sc.validate_num_blocks(); !ok) {
          failure = "at --gpu-memory-utilization " + std::to_string(o.gpu_memory_utilization) +
                    " the GPU KV cache holds " + std::to_string(least) +
                    " blocks: " + ok.error().message;
          break;
        }
        const std::string answer = nlohmann::json{{"num_blocks", least}}.dump();
        for (const auto& w : plan.workers) {
          control.send("worker-" + std::to_string(w.rank), control::kKvBlocks, answer);
        }
        plan.engine.scheduler.num_blocks = least;
        configs["engine-0"] = to_json_text(plan.engine);
        log.info("GPU KV cache: " + std::to_string(least) + " blocks of " +
                 std::to_string(sc.block_size) + " tokens");
        start("engine-0", "engine-core");
      } else if (message.kind == control::kReady) {
        ready.insert(from);
      } else if (message.kind == control::kFailed) {
        failure = from + " failed to start: " + message.payload;
      }
    }
    if (failure) {
      log.error(*failure);
      for (const auto& name : children.running_names()) control.send(name, control::kShutdown);
      err << "waypoint serve: " << *failure << "\n";
      return kExitFailure;  // ~ProcessSupervisor kills and reaps the rest
    }
    for (const auto& name : children.running_names()) control.send(name, control::kStart);
    reservation->release();
    log.info("serving " + plan.model_name + " on http://" + o.host + ":" + std::to_string(port) +
             " (" + std::to_string(o.api_server_count) + " frontend(s), 1 engine core, " +
             std::to_string(o.tensor_parallel_size) + " worker(s), " +
             std::to_string(sc.num_blocks) + " KV blocks)");

    // Supervision. The launcher's whole job from here: notice a child that
    // dies, or a signal, and take every process down in the right order.
    enum class State { kServing, kDraining, kStopping, kFailing } state = State::kServing;
    std::optional<std::string> death;
    Clock::time_point frontends_shutdown_at{}, kill_at{};
    auto is_frontend = [](const std::string& name) { return name.rfind("frontend-", 0) == 0; };
    auto frontends_running = [&] {
      for (const auto& name : children.running_names()) {
        if (is_frontend(name)) return true;
      }
      return false;
    };
    auto stop_backend = [&] {
      for (const auto& name : children.running_names()) {
        if (!is_frontend(name)) control.send(name, control::kShutdown);
      }
    };
    auto fail = [&](const std::string& reason) {
      if (state == State::kFailing) return;
      death = reason;
      log.error(reason + "; shutting down");
      state = State::kFailing;
      for (const auto& name : children.running_names()) {
        if (is_frontend(name)) control.send(name, control::kEngineDead, reason);
      }
      stop_backend();
      // The engine side may be wedged (a rank waiting on a dead peer).
      for (const auto& name : children.running_names()) {
        if (!is_frontend(name)) children.signal(name, SIGTERM);
      }
      // Frontends keep answering 503 briefly, so clients see why, then go.
      frontends_shutdown_at = Clock::now() + std::chrono::milliseconds(1500);
      kill_at = Clock::now() + std::chrono::milliseconds(4000);
    };

    zmq::pollitem_t items[] = {{control.socket().handle(), 0, ZMQ_POLLIN, 0},
                               {nullptr, signals.fd(), ZMQ_POLLIN, 0}};
    while (children.num_running() > 0) {
      zmq::poll(items, 2, std::chrono::milliseconds(20));
      while (auto sig = signals.take()) {
        if (*sig == SIGPIPE) continue;
        if (state == State::kServing) {
          log.info(std::string("received ") + (*sig == SIGINT ? "SIGINT" : "SIGTERM") +
                   ": draining");
          state = State::kDraining;
          for (const auto& name : children.running_names()) {
            if (is_frontend(name)) control.send(name, control::kDrain);
          }
          kill_at = Clock::now() + std::chrono::seconds(o.shutdown_timeout + 5);
        } else if (state != State::kFailing) {
          log.warn("second signal: stopping now");
          children.signal_all(SIGKILL);
        }
      }
      while (auto received = control.receive(std::chrono::milliseconds(0))) {
        if (received->message.kind == control::kFailed) {
          fail(received->from + " failed: " + received->message.payload);
        }
      }
      while (auto exit = children.reap()) {
        const std::string what =
            exit->name + " (pid " + std::to_string(exit->pid) + ") " + exit->describe();
        if (state == State::kServing) {
          fail(what);
        } else if (state == State::kDraining || state == State::kStopping) {
          const bool expected = is_frontend(exit->name) || state == State::kStopping;
          if (!expected || !exit->clean()) {
            fail(what);
          } else {
            log.info(exit->name + " stopped");
          }
        }
      }
      if (state == State::kDraining && !frontends_running()) {
        state = State::kStopping;
        stop_backend();
        kill_at = Clock::now() + std::chrono::seconds(5);
      }
      if (state == State::kFailing && frontends_shutdown_at != Clock::time_point{} &&
          Clock::now() > frontends_shutdown_at) {
        for (const auto& name : children.running_names()) {
          if (is_frontend(name)) control.send(name, control::kShutdown);
        }
        frontends_shutdown_at = {};
      }
      if (kill_at != Clock::time_point{} && Clock::now() > kill_at) {
        for (const auto& name : children.running_names()) {
          log.warn(name + " did not stop in time: killing it");
        }
        children.signal_all(SIGKILL);
        kill_at = {};
      }
    }
    if (death) {
      err << "waypoint serve: " << *death << "\n";
      return kExitFailure;
    }
    log.info("stopped");
    return kExitOk;
  } catch (const std::exception& e) {
    err << "waypoint serve: " << e.what() << "\n";
    return kExitFailure;
  }
}

// The child processes: `waypoint <role> --control ENDPOINT --name NAME`.
Subcommand child_subcommand(const std::string& name, const std::string& summary,
                            int (*run)(const std::string&, const std::string&)) {
  return {name, summary,
          [name, run](const std::vector<std::string>& args, std::ostream& out,
                      std::ostream& err) -> int {
            std::string control_endpoint, process_name;
            po::options_description opts("waypoint " + name + " options");
            opts.add_options()("help,h", "print this help and exit")(
                "control", po::value(&control_endpoint)->required(),
                "the launcher's control endpoint")("name", po::value(&process_name)->required(),
                                                   "this process's name");
            po::variables_map vm;
            try {
              po::store(po::command_line_parser(args).options(opts).run(), vm);
              if (vm.count("help")) {
                out << "Usage: waypoint " << name
                    << " --control ENDPOINT --name NAME\n(started by `waypoint serve`)\n\n"
                    << opts;
                return kExitOk;
              }
              po::notify(vm);
            } catch (const po::error& e) {
              err << "waypoint " << name << ": " << e.what() << "\n";
              return kExitUsage;
            }
            return run(control_endpoint, process_name);
          }};
}

}  // namespace

Subcommand serve_subcommand() { return {"serve", "serve a model over the OpenAI API", run_serve}; }
Subcommand engine_core_subcommand() {
  return child_subcommand("engine-core", "(started by serve) the scheduler process",
                          run_engine_core_process);
}
Subcommand worker_subcommand() {
  return child_subcommand("worker", "(started by serve) one tensor-parallel rank",
                          run_worker_process);
}
Subcommand frontend_subcommand() {
  return child_subcommand("frontend", "(started by serve) one HTTP frontend", run_frontend_process);
}

}  // namespace waypoint::cli
