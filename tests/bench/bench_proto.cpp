// The core -> frontend batch is encoded once per engine step and decoded by
// the frontend on its event loop, so its codec cost sits on the decode path
// of every token. The batch below is a busy step: 256 running requests, each
// with one new token, a few finishing, and journey tracing on.
#include <malloc.h>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "proto/codec.hpp"
#include "proto/engine_core_output.hpp"

namespace {

using namespace waypoint;

constexpr int kOutputs = 256;
constexpr int kJourneyEvents = 1024;

std::string request_id(std::mt19937_64& rng) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "cmpl-%016llx-0", static_cast<unsigned long long>(rng()));
  return buf;
}

EngineCoreOutputs busy_step() {
  std::mt19937_64 rng(42);
  EngineCoreOutputs batch;
  batch.engine_index = 0;
  batch.timestamp = 81234.567891;
  const uint64_t step = 1'234'567;
  std::vector<std::string> ids;
  for (int i = 0; i < kOutputs; ++i) {
    EngineCoreOutput out;
    out.request_id = request_id(rng);
    out.new_token_ids = {static_cast<TokenId>(rng() % 128'000)};
    out.num_cached_tokens = static_cast<int32_t>(rng() % 4) * 16;
    if (i % 16 == 0) {  // one in sixteen finishes this step
      out.finish_reason = (i % 32 == 0) ? FinishReason::STOP : FinishReason::LENGTH;
      if (out.finish_reason == FinishReason::STOP) out.stop_reason = 128009;
      batch.finished_requests.push_back(out.request_id);
    }
    ids.push_back(out.request_id);
    batch.outputs.push_back(std::move(out));
  }
  batch.scheduler_stats = SchedulerStats{kOutputs, 12, 0.8125, 65'536, 40'960, 3, step};

  batch.journey_events.emplace();
  const JourneyEventType types[] = {JourneyEventType::QUEUED, JourneyEventType::SCHEDULED,
                                    JourneyEventType::FIRST_TOKEN, JourneyEventType::FINISHED};
  for (int i = 0; i < kJourneyEvents; ++i) {
    RequestJourneyEvent e;
    e.request_id = ids[i % kOutputs];
    e.event_type = types[i / kOutputs];
    e.ts_monotonic_ns = 81'234'000'000'000 + i * 1'000;
    e.ts_monotonic = static_cast<double>(e.ts_monotonic_ns) * 1e-9;
    e.scheduler_step = step;
    e.prefill_total_tokens = 512 + static_cast<int32_t>(rng() % 2048);
    e.prefill_done_tokens = e.event_type == JourneyEventType::QUEUED ? 0 : e.prefill_total_tokens;
    e.decode_max_tokens = 1024;
    e.decode_done_tokens = static_cast<int32_t>(rng() % 1024);
    e.phase =
        e.event_type == JourneyEventType::QUEUED ? RequestPhase::WAITING : RequestPhase::DECODE;
    if (e.event_type == JourneyEventType::SCHEDULED) e.schedule_kind = ScheduleKind::FIRST;
    if (e.event_type == JourneyEventType::FINISHED) e.finish_status = FinishStatus::STOPPED;
    batch.journey_events->push_back(std::move(e));
  }
  return batch;
}

void BM_EngineCoreOutputsRoundTrip(benchmark::State& state) {
  const EngineCoreOutputs batch = busy_step();
  std::size_t frame_bytes = 0;
  for (auto _ : state) {
    std::string frame = encode(batch);
    frame_bytes = frame.size();
    auto decoded = decode<EngineCoreOutputs>(frame);
    if (!decoded.ok()) {
      state.SkipWithError(decoded.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(decoded);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * frame_bytes));
  state.counters["frame_bytes"] = static_cast<double>(frame_bytes);
}
BENCHMARK(BM_EngineCoreOutputsRoundTrip);

void BM_EngineCoreOutputsEncode(benchmark::State& state) {
  const EngineCoreOutputs batch = busy_step();
  std::size_t frame_bytes = 0;
  for (auto _ : state) {
    std::string frame = encode(batch);
    frame_bytes = frame.size();
    benchmark::DoNotOptimize(frame);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * frame_bytes));
  state.counters["frame_bytes"] = static_cast<double>(frame_bytes);
}
BENCHMARK(BM_EngineCoreOutputsEncode);

void BM_EngineCoreOutputsDecode(benchmark::State& state) {
  const std::string frame = encode(busy_step());
  for (auto _ : state) {
    auto decoded = decode<EngineCoreOutputs>(frame);
    if (!decoded.ok()) {
      state.SkipWithError(decoded.error().message.c_str());
      break;
    }
    benchmark::DoNotOptimize(decoded);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * frame.size()));
  state.counters["frame_bytes"] = static_cast<double>(frame.size());
}
BENCHMARK(BM_EngineCoreOutputsDecode);

}  // namespace

int main(int argc, char** argv) {
  // A decode allocates and frees a few hundred KiB per batch. With glibc's
  // default, adaptive thresholds that memory is sometimes returned to the OS
  // and faulted back in on every iteration, and the same binary reports 150 us
  // on one run and 450 us on the next. Fixed thresholds keep the heap warm, as
  // it is in a long-running frontend, so runs measure the codec.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
