#pragma once
// From started to ready: the control handshake each child of a launcher goes
// through (proto/control_channel.hpp), for serve's frontends, engine core and
// workers, and for the offline engine's worker ranks.
//   HELLO -> CONFIG   each child asks for, and gets, its configuration;
//   NCCL_ID           worker-0's id is relayed to the other ranks (CUDA, TP > 1);
//   KV_BLOCKS         CUDA workers report the blocks their memory holds; the
//                     least is the pool every rank allocates, and the children
//                     that wait for it (the engine core) start then;
//   READY             from every child.
// A child that fails, exits or stays silent past the deadline, or a signal,
// ends the bring-up with one line naming it.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/log.hpp"
#include "base/result.hpp"
#include "base/signal_watch.hpp"
#include "launcher/process_supervisor.hpp"
#include "proto/control_channel.hpp"

namespace waypoint {

struct ChildSpec {
  std::string name;                // "worker-0", "engine-0", "frontend-1": what it says HELLO with
  std::string subcommand;          // "worker", "engine-core", "frontend"
  std::string config;              // its CONFIG payload
  bool waits_for_kv_pool = false;  // started once the workers have sized the KV pool
};

class BringUp {
 public:
  // Called with the pool the workers agreed on; returns the final configs of
  // the children that wait for it, by name, or why the pool will not do.
  using OnKvPool = std::function<Result<std::map<std::string, std::string>>(int32_t num_blocks)>;

  BringUp(control::Server& control, std::string control_endpoint, ProcessSupervisor& children,
          const Logger& log);

  // Starts the children and runs the handshake until every one is READY.
  // `on_kv_pool` set: the workers size the KV pool (CUDA without a fixed size).
  Result<void> run(const std::vector<ChildSpec>& children, std::chrono::seconds timeout,
                   SignalWatch* signals, const OnKvPool& on_kv_pool = {});

 private:
  void start(const ChildSpec& child);
  Result<void> handle(const std::string& from, const control::Message& message);
  void relay_nccl_id(const std::string& id);
  Result<void> take_kv_report(const std::string& from, const std::string& payload);
  std::string late_children() const;

  control::Server& control_;
  const std::string control_endpoint_;
  ProcessSupervisor& children_;
  const Logger& log_;

  std::map<std::string, ChildSpec> specs_;
  OnKvPool on_kv_pool_;
  std::set<std::string> said_hello_, ready_;
  std::optional<std::string> nccl_id_;         // from worker-0, for ranks 1..
  std::map<std::string, int32_t> kv_reports_;  // blocks each CUDA rank can hold
  size_t num_workers_ = 0;
};

}  // namespace waypoint
