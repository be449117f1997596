#include "launcher/bring_up.hpp"

#include <algorithm>
#include <climits>
#include <utility>

#include <nlohmann/json.hpp>

namespace waypoint {

namespace {

using Clock = std::chrono::steady_clock;

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

// The rank of "worker-R", or -1 for any other name.
int worker_rank(const std::string& name) {
  return name.rfind("worker-", 0) == 0 ? std::stoi(name.substr(7)) : -1;
}

}  // namespace

BringUp::BringUp(control::Server& control, std::string control_endpoint,
                 ProcessSupervisor& children, const Logger& log)
    : control_(control),
      control_endpoint_(std::move(control_endpoint)),
      children_(children),
      log_(log) {}

void BringUp::start(const ChildSpec& child) {
  auto pid = children_.spawn(
      child.name, {child.subcommand, "--control", control_endpoint_, "--name", child.name});
  if (!pid) throw std::runtime_error(pid.error().message);
  log_.info("started " + child.name + " (pid " + std::to_string(*pid) + ")");
}

Result<void> BringUp::run(const std::vector<ChildSpec>& children, std::chrono::seconds timeout,
                          SignalWatch* signals, const OnKvPool& on_kv_pool) {
  on_kv_pool_ = on_kv_pool;
  for (const ChildSpec& child : children) {
    specs_[child.name] = child;
    if (worker_rank(child.name) >= 0) ++num_workers_;
  }
  for (const ChildSpec& child : children) {
    if (!child.waits_for_kv_pool) start(child);
  }
  const auto deadline = Clock::now() + timeout;
  while (ready_.size() < specs_.size()) {
    if (signals && signals->take()) return Error{"interrupted during startup"};
    if (auto exit = children_.reap()) {
      return Error{exit->name + " (pid " + std::to_string(exit->pid) + ") " + exit->describe() +
                   " during startup"};
    }
    if (Clock::now() > deadline) {
      return Error{"not ready within --startup-timeout " + std::to_string(timeout.count()) +
                   " s: " + late_children()};
    }
    auto received = control_.receive(std::chrono::milliseconds(50));
    if (!received || !specs_.count(received->from)) continue;
    if (auto ok = handle(received->from, received->message); !ok) return ok;
  }
  return {};
}

Result<void> BringUp::handle(const std::string& from, const control::Message& message) {
  if (message.kind == control::kHello) {
    said_hello_.insert(from);
    control_.send(from, control::kConfig, specs_[from].config);
    if (nccl_id_ && worker_rank(from) > 0) control_.send(from, control::kNcclId, *nccl_id_);
  } else if (message.kind == control::kNcclId && worker_rank(from) == 0) {
    relay_nccl_id(message.payload);
  } else if (message.kind == control::kKvBlocks && worker_rank(from) >= 0 && on_kv_pool_) {
    return take_kv_report(from, message.payload);
  } else if (message.kind == control::kReady) {
    ready_.insert(from);
  } else if (message.kind == control::kFailed) {
    return Error{from + " failed to start: " + message.payload};
  }
  return {};
}

// Rank 0 made the NCCL id; the other ranks join with it.
void BringUp::relay_nccl_id(const std::string& id) {
  nccl_id_ = id;
  for (const auto& name : said_hello_) {
    if (worker_rank(name) > 0) control_.send(name, control::kNcclId, id);
  }
}

Result<void> BringUp::take_kv_report(const std::string& from, const std::string& payload) {
  auto blocks = parse_kv_blocks(payload);
  if (!blocks) return Error{from + " sent a malformed KV_BLOCKS: " + blocks.error().message};
  kv_reports_[from] = *blocks;
  if (kv_reports_.size() < num_workers_) return {};
  // Every rank allocates the same pool, so the smallest rank's room decides.
  int32_t least = INT32_MAX;
  for (const auto& [name, n] : kv_reports_) least = std::min(least, n);
  auto configs = on_kv_pool_(least);
  if (!configs) return configs.error();
  const std::string answer = nlohmann::json{{"num_blocks", least}}.dump();
  for (const auto& [name, spec] : specs_) {
    if (worker_rank(name) >= 0) control_.send(name, control::kKvBlocks, answer);
  }
  for (auto& [name, spec] : specs_) {
    if (!spec.waits_for_kv_pool) continue;
    if (auto it = configs->find(name); it != configs->end()) spec.config = it->second;
    start(spec);
  }
  return {};
}

std::string BringUp::late_children() const {
  std::string late;
  for (const auto& [name, spec] : specs_) {
    if (ready_.count(name)) continue;
    const bool unstarted = spec.waits_for_kv_pool && !children_.running(name);
    late += (late.empty() ? "" : ", ") + name +
            (unstarted                 ? " (not started: the workers have not sized the KV cache)"
             : said_hello_.count(name) ? " (configured, not ready)"
                                       : " (never said HELLO)");
  }
  return late;
}

}  // namespace waypoint
