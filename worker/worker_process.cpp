#include "worker/worker_process.hpp"

#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include <zmq.hpp>

#include "base/json_config.hpp"
#include "base/log.hpp"
#include "proto/busy_poll.hpp"
#include "proto/codec.hpp"
#include "proto/control_channel.hpp"
#include "proto/scheduler_output.hpp"
#include "worker/cpu_worker_rank.hpp"
#ifdef WAYPOINT_HAVE_CUDA
#include "worker/cuda_worker_rank.hpp"
#endif
#include "worker/worker_rank.hpp"

namespace waypoint {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(WorkerProcessConfig, model_dir, rank, world_size,
                                                device, num_blocks, gpu_memory_utilization,
                                                max_num_seqs, block_size, seed,
                                                max_num_batched_tokens, tp_shm_path, steps_endpoint,
                                                reply_endpoint, busy_poll_us)

std::string to_json_text(const WorkerProcessConfig& c) { return json_text(c); }

Result<WorkerProcessConfig> worker_config_from_json(const std::string& text) {
  auto c = from_json_text<WorkerProcessConfig>(text, "worker config");
  if (c && c->device != "cpu" && c->device != "cuda") {
    return Error{"worker config: device must be cpu or cuda, got '" + c->device + "'"};
  }
  return c;
}

size_t tp_max_floats(int64_t max_num_batched_tokens, int64_t hidden_size) {
  return static_cast<size_t>(max_num_batched_tokens * hidden_size);
}

namespace {

// What a loaded rank holds; built before READY so a bad model fails the start.
Result<WorkerRank> load_rank(const WorkerProcessConfig& c, control::Channel& control,
                             const Logger& log) {
  // The launcher outlives every rank; if it is gone the rank is orphaned.
  const pid_t launcher = getppid();
  const std::function<bool()> launcher_alive = [launcher] { return getppid() == launcher; };
  if (c.device == "cuda") {
#ifdef WAYPOINT_HAVE_CUDA
    return load_cuda_rank(c, control, launcher_alive, log);
#else
    (void)control;
    (void)log;
    return Error{"--device cuda: this waypoint was built without CUDA"};
#endif
  }
  return load_cpu_rank(c, launcher_alive);
}

}  // namespace

int run_worker_process(const std::string& control_endpoint, const std::string& name) {
  Logger log(name);
  zmq::context_t context(1);
  control::Channel control(context, control_endpoint, name);
  auto config = control::receive_config<WorkerProcessConfig>(control, worker_config_from_json, log);
  if (!config) return 1;
  auto rank = load_rank(*config, control, log);
  if (!rank) {
    control.send(control::kFailed, rank.error().message);
    return 1;
  }

  zmq::socket_t steps(context, zmq::socket_type::sub);
  steps.set(zmq::sockopt::linger, 0);
  steps.set(zmq::sockopt::subscribe, "");
  steps.connect(config->steps_endpoint);
  std::optional<zmq::socket_t> reply;
  if (config->rank == 0) {
    reply.emplace(context, zmq::socket_type::push);
    reply->set(zmq::sockopt::linger, 0);
    reply->connect(config->reply_endpoint);
  }
  control.send(control::kReady);
  log.info("rank " + std::to_string(config->rank) + " of " + std::to_string(config->world_size) +
           " ready on " + config->device + ", " + std::to_string(rank->num_blocks) + " KV blocks");

  zmq::pollitem_t items[] = {{steps.handle(), 0, ZMQ_POLLIN, 0},
                             {control.socket().handle(), 0, ZMQ_POLLIN, 0}};
  uint64_t malformed = 0;
  // The next step follows the last one within the engine core's schedule and
  // update time, so it is awaited spinning first (proto/busy_poll.hpp).
  std::chrono::microseconds spin{0};
  while (true) {
    busy_poll(items, 2, spin, std::chrono::milliseconds(-1));
    spin = std::chrono::microseconds(0);
    if (items[1].revents & ZMQ_POLLIN) {
      auto message = control.receive(std::chrono::milliseconds(0));
      if (message && message->kind == control::kShutdown) break;
    }
    if (!(items[0].revents & ZMQ_POLLIN)) continue;
    zmq::message_t frame;
    if (!steps.recv(frame, zmq::recv_flags::dontwait)) continue;
    auto step = decode<SchedulerOutput>(frame.to_string_view());
    std::string answer;
    if (!step) {
      // The engine waits for this step's answer, so say why there is none.
      ++malformed;
      log.error("dropped malformed step from engine-0 (" + std::to_string(malformed) +
                " so far): " + step.error().message);
      answer = std::string(1, kStepReplyError) + step.error().message;
    } else {
      try {
        const ModelRunnerOutput out = rank->runner->execute_model(*step);
        answer = std::string(1, kStepReplyOk) + encode(out);
      } catch (const std::exception& e) {
        answer = std::string(1, kStepReplyError) + e.what();
      }
    }
    if (reply) reply->send(zmq::buffer(answer), zmq::send_flags::none);
    spin = std::chrono::microseconds(config->busy_poll_us);
    if (answer[0] == kStepReplyError) {
      // This rank's KV and request state no longer match the engine's; going
      // on would produce wrong tokens. Exiting lets the launcher stop the rest.
      log.error("step failed: " + answer.substr(1));
      return 1;
    }
  }
  log.info("shut down");
  return 0;
}

}  // namespace waypoint
