#pragma once
// What a loaded worker process holds, whatever its backend: the communicator its
// model all-reduces through, and the runner that executes steps. Declared in this
// order so the runner, which refers to the communicator, is destroyed first.
#include <cstdint>
#include <memory>

#include "proto/executor.hpp"
#include "worker/device_tp_communicator.hpp"
#include "worker/tp_communicator.hpp"

namespace waypoint {

struct WorkerRank {
  std::unique_ptr<TpCommunicator> host_comm;          // cpu
  std::unique_ptr<DeviceTpCommunicator> device_comm;  // cuda
  std::unique_ptr<Executor> runner;
  int32_t num_blocks = 0;  // the KV pool it holds
};

}  // namespace waypoint
