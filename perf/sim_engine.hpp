#pragma once
// The simulator's event loop (docs/perf-model.md): the real engine_core Scheduler
// and block pool, stepped on a virtual clock. Nothing about scheduling is
// modelled here: batching, chunked prefill, preemption and the queue wait
// all come from the scheduler itself. What is modelled is time:
//   - a request reaches the core alpha's api_to_core after it is sent, and
//     the core takes it in at its next step boundary, as the engine loop does;
//   - each step lasts what beta says of the batch the scheduler built, and
//     the loop's overhead (hops.step_gap) separates busy steps;
//   - a token reaches the client hops.first_response + client_first_chunk
//     after its step ends (the first chunk's client hop per request, priced
//     on the prefills running when it was sent and when it left the core);
//     the last one departure + client_last_chunk after.
// The client is bench's: the same arrival offsets, the same concurrency cap,
// and records with bench's definitions, so bench's summary applies as is.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "engine_core/scheduler_config.hpp"
#include "perf/bench_dataset.hpp"
#include "perf/bench_metrics.hpp"
#include "perf/sim_model.hpp"

namespace waypoint::sim {

struct SimConfig {
  // The server's scheduler limits. Step tracing is turned on at rate 1
  // inside: it is where beta's features come from.
  SchedulerConfig scheduler;
  std::optional<std::size_t> max_concurrency;
  int32_t vocab_size = 32000;  // for the tokens the synthetic executor emits
  uint64_t seed = 0;
};

struct SimStats {
  uint64_t steps = 0;
  int64_t preemptions = 0;
  double busy_s = 0;              // virtual time inside steps
  double mean_api_ms = 0;         // send -> the core, as alpha predicted
  double mean_queue_wait_ms = 0;  // QUEUED -> first SCHEDULED, as the scheduler decided
};

struct SimOutcome {
  std::vector<bench::RequestRecord> records;  // in the requests' order
  double duration_s = 0;                      // first send to last reply, virtual
  SimStats stats;
};

// Called after each request ends, with the count so far.
using OnProgress = std::function<void(std::size_t done)>;

// Every request needs prompt_token_ids; it generates exactly output_len
// tokens (the synthetic executor never samples EOS), as bench's random and
// trace datasets ask of the server.
SimOutcome simulate(const std::vector<bench::BenchRequest>& requests,
                    const std::vector<double>& offsets, const PerfModel& model,
                    const SimConfig& config, const OnProgress& on_progress = {});

}  // namespace waypoint::sim
