#include "worker/worker_process.hpp"

#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "base/log.hpp"
#include "proto/busy_poll.hpp"
#include "proto/codec.hpp"
#include "proto/control_channel.hpp"
#include "proto/scheduler_output.hpp"
#include "worker/cpu_model_runner.hpp"
#ifdef WAYPOINT_HAVE_CUDA
#include "worker/cuda_worker_rank.hpp"
#endif
#include "worker/llama_weights.hpp"
#include "worker/model_loader.hpp"
#include "worker/shm_tp_group.hpp"
#include "worker/worker_rank.hpp"

namespace waypoint {

using nlohmann::json;

std::string to_json_text(const WorkerProcessConfig& c) {
  return json{{"model_dir", c.model_dir},
              {"rank", c.rank},
              {"world_size", c.world_size},
              {"device", c.device},
              {"num_blocks", c.num_blocks},
              {"gpu_memory_utilization", c.gpu_memory_utilization},
              {"max_num_seqs", c.max_num_seqs},
              {"block_size", c.block_size},
              {"seed", c.seed},
              {"max_num_batched_tokens", c.max_num_batched_tokens},
              {"tp_shm_path", c.tp_shm_path},
              {"steps_endpoint", c.steps_endpoint},
              {"reply_endpoint", c.reply_endpoint},
              {"busy_poll_us", c.busy_poll_us}}
      .dump();
}

Result<WorkerProcessConfig> worker_config_from_json(const std::string& text) {
  try {
    const json j = json::parse(text);
    WorkerProcessConfig c;
    c.model_dir = j.at("model_dir").get<std::string>();
    c.rank = j.at("rank").get<int32_t>();
    c.world_size = j.at("world_size").get<int32_t>();
    c.device = j.value("device", c.device);
    if (c.device != "cpu" && c.device != "cuda") {
      return Error{"worker config: device must be cpu or cuda, got '" + c.device + "'"};
    }
    c.num_blocks = j.at("num_blocks").get<int32_t>();
    c.gpu_memory_utilization = j.value("gpu_memory_utilization", c.gpu_memory_utilization);
    c.max_num_seqs = j.value("max_num_seqs", c.max_num_seqs);
    c.block_size = j.at("block_size").get<int32_t>();
    c.seed = j.at("seed").get<uint64_t>();
    c.max_num_batched_tokens = j.at("max_num_batched_tokens").get<int64_t>();
    c.tp_shm_path = j.at("tp_shm_path").get<std::string>();
    c.steps_endpoint = j.at("steps_endpoint").get<std::string>();
    c.reply_endpoint = j.at("reply_endpoint").get<std::string>();
    c.busy_poll_us = j.value("busy_poll_us", c.busy_poll_us);
    return c;
  } catch (const json::exception& e) {
    return Error{std::string("worker config: ") + e.what()};
  }
}

size_t tp_max_floats(int64_t max_num_batched_tokens, int64_t hidden_size) {
  return static_cast<size_t>(max_num_batched_tokens * hidden_size);
}

namespace {

Result<WorkerRank> load_cpu_rank(const WorkerProcessConfig& c,
                                 const std::function<bool()>& launcher_alive) {
  if (c.num_blocks < 2) {
    return Error{"a CPU worker needs its KV block count in its config, got " +
                 std::to_string(c.num_blocks)};
  }
  auto loaded = load_model(c.model_dir);
  if (!loaded) return loaded.error();
  auto weights = load_llama_weights(loaded->config, loaded->weights, TpShard{c.rank, c.world_size});
  if (!weights) return weights.error();
  WorkerRank out;
  if (c.world_size > 1) {
    auto group = ShmTpGroup::attach(
        c.tp_shm_path, c.world_size,
        tp_max_floats(c.max_num_batched_tokens, loaded->config.hidden_size), kTpMessageBytes);
    if (!group) return group.error();
    out.host_comm = std::make_unique<ShmTpRank>(std::move(*group), c.rank, launcher_alive);
  } else {
    out.host_comm = std::make_unique<SingleRank>();
  }
  const CpuModelRunnerConfig runner{
      .num_blocks = c.num_blocks, .block_size = c.block_size, .seed = c.seed};
  out.runner =
      std::make_unique<CpuModelRunner>(loaded->config, std::move(*weights), runner, *out.host_comm);
  out.num_blocks = c.num_blocks;
  return out;
}

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
