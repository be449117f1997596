#include "launcher/serve_command.hpp"

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "base/log.hpp"
#include "base/signal_watch.hpp"
#include "launcher/bring_up.hpp"
#include "launcher/device_check.hpp"
#include "launcher/event_hub.hpp"
#include "launcher/port_reservation.hpp"
#include "launcher/process_supervisor.hpp"
#include "launcher/run_files.hpp"
#include "launcher/serve_plan.hpp"
#include "launcher/supervision.hpp"
#include "modelgen/demo_model.hpp"
#include "proto/control_channel.hpp"
#include "worker/shm_tp_group.hpp"

namespace fs = std::filesystem;

namespace waypoint::cli {

namespace {

// What serve runs, once the flags, the device and the model check out.
struct ServeSetup {
  ServeOptions options;  // --device resolved, --model filled in
  ModelConfig model;
  SchedulerConfig scheduler;
};

// The device first: a machine or a build that cannot run CUDA says so at once,
// before any model is read. Then the model, its tokenizer and the scheduler's
// limits.
Result<ServeSetup, LaunchError> check_setup(ServeOptions o, const Logger& log) {
  const DeviceRequest request{o.device, o.tensor_parallel_size, /*cuda_tensor_parallel=*/true};
  auto selected = select_requested_device(request);
  if (!selected) return selected.error();
  if (o.model.empty()) {
    auto dir = demo_model(log);
    if (!dir) return LaunchError{dir.error().message, kExitFailure};
    o.model = *dir;
  }
  auto model = load_model_config(o.model);
  if (!model) return LaunchError{model.error().message, kExitFailure};
  auto choice = fit_device_to_model(*selected, request, *model);
  if (!choice) return choice.error();
  if (!choice->fallback_reason.empty()) {
    log.info("--device auto: serving on cpu, since " + choice->fallback_reason);
  }
  o.device = std::string(device_name(choice->device));
  log.info("device: " + o.device +
           (request.flag == o.device ? "" : " (--device " + request.flag + ")"));
  const fs::path tokenizer = fs::path(o.model) / "tokenizer.json";
  if (!fs::exists(tokenizer)) {
    return LaunchError{tokenizer.string() + " is missing; the server needs the model's tokenizer",
                       kExitFailure};
  }
  auto scheduler = scheduler_config(o, *model);
  if (!scheduler) return LaunchError{scheduler.error().message};
  return ServeSetup{std::move(o), std::move(*model), *scheduler};
}

// Where the processes meet: ipc endpoints in the run's directory, and the CPU
// tensor-parallel region.
ServeEndpoints make_endpoints(RunFiles& files, const ServeSetup& setup) {
  const ServeOptions& o = setup.options;
  ServeEndpoints endpoints;
  endpoints.steps = files.ipc("steps");
  endpoints.replies = files.ipc("replies");
  endpoints.event_intake = files.ipc("events");
  for (int i = 0; i < o.api_server_count; ++i) {
    const std::string frontend = "frontend-" + std::to_string(i);
    endpoints.frontend_requests.push_back(files.ipc(frontend + "-requests"));
    endpoints.frontend_outputs.push_back(files.ipc(frontend + "-outputs"));
    endpoints.frontend_metrics.push_back(files.ipc(frontend + "-metrics"));
  }
  if (o.tensor_parallel_size > 1 && o.device == "cpu") {
    endpoints.tp_shm_path = files.claim_shm("tp");
    auto ok = ShmTpGroup::create_file(
        endpoints.tp_shm_path, o.tensor_parallel_size,
        tp_max_floats(setup.scheduler.max_num_batched_tokens, setup.model.hidden_size));
    if (!ok) throw std::runtime_error(ok.error().message);
  }
  return endpoints;
}

// Every child, named as it will say HELLO. When the workers measure the KV
// pool, the engine core, whose scheduler needs its size, waits for them.
std::vector<ChildSpec> child_specs(const ServePlan& plan, bool kv_measured) {
  std::vector<ChildSpec> children;
  for (const auto& w : plan.workers) {
    children.push_back({"worker-" + std::to_string(w.rank), "worker", to_json_text(w)});
  }
  children.push_back({"engine-0", "engine-core", to_json_text(plan.engine), kv_measured});
  for (const auto& f : plan.frontends) {
    children.push_back({"frontend-" + std::to_string(f.client_index), "frontend", to_json_text(f)});
  }
  return children;
}

// The pool the CUDA workers agreed on becomes the engine core's.
BringUp::OnKvPool take_kv_pool(ServePlan& plan, const ServeOptions& o, const Logger& log) {
  return [&plan, &o, &log](int32_t blocks) -> Result<std::map<std::string, std::string>> {
    SchedulerConfig& sc = plan.engine.scheduler;
    sc.num_blocks = blocks;
    if (auto ok = sc.validate_num_blocks(); !ok) {
      return Error{"at --gpu-memory-utilization " + std::to_string(o.gpu_memory_utilization) +
                   " the GPU KV cache holds " + std::to_string(blocks) +
                   " blocks: " + ok.error().message};
    }
    log.info("GPU KV cache: " + std::to_string(blocks) + " blocks of " +
             std::to_string(sc.block_size) + " tokens");
    return std::map<std::string, std::string>{{"engine-0", to_json_text(plan.engine)}};
  };
}

std::string hub_banner(const ServeOptions& o, const EventHub& hub) {
  return "event hub on " + hub.publish_endpoint() + " (replay " + hub.replay_endpoint() + ")" +
         (o.enable_journey_tracing ? "; journey tracing on" : "") +
         (o.kv_events ? "; kv events on" : "") +
         (o.step_tracing_enabled ? "; step tracing on" : "") +
         (o.otlp_traces_endpoint.empty() ? "" : "; OTLP spans to " + o.otlp_traces_endpoint);
}

// Plan, bring-up, supervision. Returns the exit code.
int launch(const ServeSetup& setup, const Logger& log, std::ostream& err) {
  const ServeOptions& o = setup.options;
  // Signals first: one that came before the run's files exist could not
  // remove them.
  SignalWatch signals({SIGINT, SIGTERM}, /*ignore_sigpipe=*/true);
  RunFiles files;
  PortReservation reservation(o.host, o.port);
  ServePlan plan =
      make_serve_plan(o, setup.scheduler, make_endpoints(files, setup), reservation.port());

  // The hub first: producers connect to it as they start.
  zmq::context_t context(1);
  EventHub hub(context, {plan.engine.events_endpoint, o.event_endpoint, o.event_replay_endpoint,
                         static_cast<size_t>(o.event_buffer)});
  log.info(hub_banner(o, hub));

  const std::string control_endpoint = files.ipc("control");
  control::Server control(context, control_endpoint);
  ProcessSupervisor children;
  const bool kv_measured = setup.scheduler.num_blocks == 0;
  BringUp bring_up(control, control_endpoint, children, log);
  auto ready =
      bring_up.run(child_specs(plan, kv_measured), std::chrono::seconds(o.startup_timeout),
                   &signals, kv_measured ? take_kv_pool(plan, o, log) : BringUp::OnKvPool{});
  if (!ready) {
    log.error(ready.error().message);
    for (const auto& name : children.running_names()) control.send(name, control::kShutdown);
    err << "waypoint serve: " << ready.error().message << "\n";
    return kExitFailure;  // ~ProcessSupervisor kills and reaps the rest
  }
  for (const auto& name : children.running_names()) control.send(name, control::kStart);
  reservation.release();
  log.info("serving " + plan.model_name + " on http://" + o.host + ":" +
           std::to_string(reservation.port()) + " (" + std::to_string(o.api_server_count) +
           " frontend(s), 1 engine core, " + std::to_string(o.tensor_parallel_size) +
           " worker(s), " + std::to_string(plan.engine.scheduler.num_blocks) + " KV blocks)");

  Supervision supervision(control, children, signals, std::chrono::seconds(o.shutdown_timeout),
                          log);
  if (auto death = supervision.run()) {
    err << "waypoint serve: " << *death << "\n";
    return kExitFailure;
  }
  log.info("stopped");
  return kExitOk;
}

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
  Logger log("serve");
  auto setup = check_setup(parsed->options, log);
  if (!setup) {
    err << "waypoint serve: " << setup.error().message << "\n";
    return setup.error().exit_code;
  }
  try {
    return launch(*setup, log, err);
  } catch (const std::exception& e) {
    err << "waypoint serve: " << e.what() << "\n";
    return kExitFailure;
  }
}

}  // namespace

Subcommand serve_subcommand() { return {"serve", "serve a model over the OpenAI API", run_serve}; }

}  // namespace waypoint::cli
