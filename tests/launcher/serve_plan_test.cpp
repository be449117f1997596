// The seeds record a bug where tracing flags were parsed but never reached
// the engine. Here every observability flag must arrive, through the plan and
// the JSON a child process receives, in the config of the process that uses it.
#include "launcher/serve_plan.hpp"

#include <gtest/gtest.h>

namespace waypoint::cli {
namespace {

ModelConfig tiny_model() {
  ModelConfig m;
  m.vocab_size = 512;
  m.hidden_size = 64;
  m.intermediate_size = 128;
  m.num_hidden_layers = 2;
  m.num_attention_heads = 4;
  m.num_key_value_heads = 2;
  m.head_dim = 16;
  m.max_position_embeddings = 256;
  m.eos_token_id = 2;
  return m;
}

ServeEndpoints endpoints(int frontends) {
  ServeEndpoints e;
  e.steps = "ipc:///run/steps";
  e.replies = "ipc:///run/replies";
  e.event_intake = "ipc:///run/events";
  for (int i = 0; i < frontends; ++i) {
    e.frontend_requests.push_back("ipc:///run/f" + std::to_string(i) + "-requests");
    e.frontend_outputs.push_back("ipc:///run/f" + std::to_string(i) + "-outputs");
  }
  return e;
}

TEST(ServePlan, JourneyTracingFlagsReachTheCoreAndEveryFrontend) {
  ServeOptions o;
  o.model = "/models/tiny";
  o.api_server_count = 2;
  o.enable_journey_tracing = true;
  o.journey_tracing_sample_rate = 0.25;
  o.kv_events = true;
  o.seed = 99;
  auto sc = scheduler_config(o, tiny_model());
  ASSERT_TRUE(sc.ok()) << sc.error().message;
  const ServePlan plan = make_serve_plan(o, *sc, endpoints(2), 8000);

  // What the engine core process reads back from its CONFIG message.
  auto engine = engine_core_config_from_json(to_json_text(plan.engine));
  ASSERT_TRUE(engine.ok()) << engine.error().message;
  EXPECT_TRUE(engine->scheduler.enable_journey_tracing);
  EXPECT_TRUE(engine->kv_events);
  EXPECT_EQ(engine->events_endpoint, "ipc:///run/events");

  ASSERT_EQ(plan.frontends.size(), 2u);
  for (const auto& planned : plan.frontends) {
    auto f = frontend_config_from_json(to_json_text(planned));
    ASSERT_TRUE(f.ok()) << f.error().message;
    EXPECT_TRUE(f->enable_journey_tracing);
    EXPECT_DOUBLE_EQ(f->journey_tracing_sample_rate, 0.25);
    EXPECT_EQ(f->events_endpoint, "ipc:///run/events");
    EXPECT_EQ(f->seed, 99u);
  }
}

// From the command line, as a user types it, to the config each child reads.
ServePlan plan_from_flags(const std::vector<std::string>& flags, int frontends) {
  auto parsed = parse_serve_options(flags);
  EXPECT_TRUE(parsed.ok()) << parsed.error().message;
  auto sc = scheduler_config(parsed->options, tiny_model());
  EXPECT_TRUE(sc.ok()) << sc.error().message;
  return make_serve_plan(parsed->options, *sc, endpoints(frontends), 8000);
}

TEST(ServePlan, StepTracingFlagsReachTheEngineCore) {
  const ServePlan plan =
      plan_from_flags({"--model", "/models/tiny", "--step-tracing-enabled",
                       "--step-tracing-sample-rate", "0.25", "--step-tracing-rich-subsample-rate",
                       "0.125", "--step-tracing-closure-interval", "7", "--seed", "5"},
                      1);
  auto engine = engine_core_config_from_json(to_json_text(plan.engine));
  ASSERT_TRUE(engine.ok()) << engine.error().message;
  const StepTracingConfig& st = engine->scheduler.step_tracing;
  EXPECT_TRUE(st.enabled);
  EXPECT_DOUBLE_EQ(st.sample_rate, 0.25);
  EXPECT_DOUBLE_EQ(st.rich_subsample_rate, 0.125);
  EXPECT_EQ(st.closure_interval, 7);
  EXPECT_EQ(st.seed, 5u);
}

TEST(ServePlan, StepTracingDefaultsAreVllms) {
  const ServePlan plan = plan_from_flags({"--model", "/models/tiny"}, 1);
  auto engine = engine_core_config_from_json(to_json_text(plan.engine));
  ASSERT_TRUE(engine.ok());
  const StepTracingConfig& st = engine->scheduler.step_tracing;
  EXPECT_FALSE(st.enabled);
  EXPECT_DOUBLE_EQ(st.sample_rate, 0.01);
  EXPECT_DOUBLE_EQ(st.rich_subsample_rate, 0.001);
  EXPECT_EQ(st.closure_interval, 100);
  EXPECT_TRUE(engine->otlp_traces_endpoint.empty());
}

TEST(ServePlan, OtlpEndpointReachesEveryProcessAndTurnsJourneyTracingOn) {
  const ServePlan plan =
      plan_from_flags({"--model", "/models/tiny", "--otlp-traces-endpoint", "http://127.0.0.1:4318",
                       "--journey-tracing-sample-rate", "0.5", "--api-server-count", "2"},
                      2);
  auto engine = engine_core_config_from_json(to_json_text(plan.engine));
  ASSERT_TRUE(engine.ok());
  EXPECT_EQ(engine->otlp_traces_endpoint, "http://127.0.0.1:4318");
  EXPECT_TRUE(engine->scheduler.enable_journey_tracing) << "spans are built from journey events";
  ASSERT_EQ(plan.frontends.size(), 2u);
  for (const auto& planned : plan.frontends) {
    auto f = frontend_config_from_json(to_json_text(planned));
    ASSERT_TRUE(f.ok()) << f.error().message;
    EXPECT_EQ(f->otlp_traces_endpoint, "http://127.0.0.1:4318");
    EXPECT_TRUE(f->enable_journey_tracing);
    EXPECT_DOUBLE_EQ(f->journey_tracing_sample_rate, 0.5);
  }
}

TEST(ServePlan, EveryFrontendKnowsEveryMetricsEndpoint) {
  ServeOptions o;
  o.model = "/models/tiny";
  o.api_server_count = 2;
  auto sc = scheduler_config(o, tiny_model());
  ASSERT_TRUE(sc.ok());
  ServeEndpoints e = endpoints(2);
  e.frontend_metrics = {"ipc:///run/f0-metrics", "ipc:///run/f1-metrics"};
  const ServePlan plan = make_serve_plan(o, *sc, e, 8000);
  for (const auto& planned : plan.frontends) {
    auto f = frontend_config_from_json(to_json_text(planned));
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(f->metrics_endpoints, e.frontend_metrics);
  }
}

TEST(ServePlan, BadTracingFlagsAreOneLineNamingTheFlag) {
  for (const auto& [flag, value] : std::vector<std::pair<std::string, std::string>>{
           {"--step-tracing-sample-rate", "1.5"},
           {"--step-tracing-rich-subsample-rate", "-1"},
           {"--step-tracing-closure-interval", "0"},
           {"--journey-tracing-sample-rate", "2"},
           {"--otlp-traces-endpoint", "localhost:4318"}}) {
    auto parsed = parse_serve_options({flag, value});
    ASSERT_FALSE(parsed.ok()) << flag;
    EXPECT_NE(parsed.error().message.find(flag), std::string::npos) << parsed.error().message;
    EXPECT_EQ(parsed.error().message.find('\n'), std::string::npos);
  }
}

TEST(ServePlan, TracingIsOffUnlessAskedFor) {
  ServeOptions o;
  o.model = "/models/tiny";
  auto sc = scheduler_config(o, tiny_model());
  ASSERT_TRUE(sc.ok());
  const ServePlan plan = make_serve_plan(o, *sc, endpoints(1), 8000);
  auto engine = engine_core_config_from_json(to_json_text(plan.engine));
  ASSERT_TRUE(engine.ok());
  EXPECT_FALSE(engine->scheduler.enable_journey_tracing);
  EXPECT_FALSE(engine->kv_events);
  auto f = frontend_config_from_json(to_json_text(plan.frontends[0]));
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->enable_journey_tracing);
  EXPECT_DOUBLE_EQ(f->journey_tracing_sample_rate, 1.0);
}

TEST(ServePlan, SchedulerFlagsAreCheckedAndNamed) {
  ServeOptions o;
  o.max_model_len = 4096;
  auto sc = scheduler_config(o, tiny_model());
  ASSERT_FALSE(sc.ok());
  EXPECT_NE(sc.error().message.find("--max-model-len 4096"), std::string::npos);
}

TEST(ServePlan, DeviceFlagTakesAutoCpuOrCudaAndDefaultsToAuto) {
  auto defaults = parse_serve_options({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->options.device, "auto");
  EXPECT_DOUBLE_EQ(defaults->options.gpu_memory_utilization, 0.9);
  for (const char* device : {"auto", "cpu", "cuda"}) {
    auto parsed = parse_serve_options({"--device", device});
    ASSERT_TRUE(parsed.ok()) << device;
    EXPECT_EQ(parsed->options.device, device);
  }
  auto bad = parse_serve_options({"--device", "gpu"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("--device must be auto, cpu or cuda"), std::string::npos);
}

TEST(ServePlan, GpuMemoryUtilizationIsAFractionAboveZeroUpToOne) {
  for (const char* u : {"0.01", "0.5", "1"}) {
    EXPECT_TRUE(parse_serve_options({"--gpu-memory-utilization", u}).ok()) << u;
  }
  for (const char* u : {"0", "-0.1", "1.5", "nan"}) {
    auto parsed = parse_serve_options({"--gpu-memory-utilization", u});
    ASSERT_FALSE(parsed.ok()) << u;
    EXPECT_NE(parsed.error().message.find("--gpu-memory-utilization"), std::string::npos)
        << parsed.error().message;
    EXPECT_EQ(parsed.error().message.find('\n'), std::string::npos);
  }
}

// The spin reaches both sides of the step sockets: the engine core awaiting a
// reply and every worker awaiting the next step.
TEST(ServePlan, BusyPollReachesTheEngineCoreAndEveryWorker) {
  auto defaults = parse_serve_options({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->options.busy_poll_us, 1000);
  for (const char* us : {"-1", "1000001", "x"}) {
    auto parsed = parse_serve_options({"--busy-poll-us", us});
    ASSERT_FALSE(parsed.ok()) << us;
    EXPECT_NE(parsed.error().message.find("busy-poll-us"), std::string::npos)
        << parsed.error().message;
  }
  auto off = parse_serve_options({"--busy-poll-us", "0"});
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->options.busy_poll_us, 0);

  ServeOptions o;
  o.model = "/models/tiny";
  o.tensor_parallel_size = 2;
  o.busy_poll_us = 250;
  auto sc = scheduler_config(o, tiny_model());
  ASSERT_TRUE(sc.ok()) << sc.error().message;
  const ServePlan plan = make_serve_plan(o, *sc, endpoints(1), 8000);
  auto engine = engine_core_config_from_json(to_json_text(plan.engine));
  ASSERT_TRUE(engine.ok()) << engine.error().message;
  EXPECT_EQ(engine->busy_poll_us, 250);
  ASSERT_EQ(plan.workers.size(), 2u);
  for (const auto& planned : plan.workers) {
    auto w = worker_config_from_json(to_json_text(planned));
    ASSERT_TRUE(w.ok()) << w.error().message;
    EXPECT_EQ(w->busy_poll_us, 250);
  }
}

// On cuda the workers measure the pool, so the plan leaves the count at 0 and every
// worker gets the fraction it sizes the pool with; an override still fixes it.
TEST(ServePlan, CudaLeavesTheKvPoolToTheWorkers) {
  ServeOptions o;
  o.model = "/models/tiny";
  o.device = "cuda";
  o.gpu_memory_utilization = 0.75;
  o.tensor_parallel_size = 2;
  o.max_num_seqs = 32;
  auto sc = scheduler_config(o, tiny_model());
  ASSERT_TRUE(sc.ok()) << sc.error().message;
  EXPECT_EQ(sc->num_blocks, 0);
  EXPECT_FALSE(sc->validate_num_blocks().ok()) << "the launcher checks it once measured";
  const ServePlan plan = make_serve_plan(o, *sc, endpoints(1), 8000);
  ASSERT_EQ(plan.workers.size(), 2u);
  for (const auto& planned : plan.workers) {
    auto w = worker_config_from_json(to_json_text(planned));
    ASSERT_TRUE(w.ok()) << w.error().message;
    EXPECT_EQ(w->device, "cuda");
    EXPECT_EQ(w->num_blocks, 0);
    EXPECT_DOUBLE_EQ(w->gpu_memory_utilization, 0.75);
    EXPECT_EQ(w->max_num_seqs, 32);
  }

  o.num_gpu_blocks_override = 100;
  auto forced = scheduler_config(o, tiny_model());
  ASSERT_TRUE(forced.ok());
  EXPECT_EQ(forced->num_blocks, 100);
  EXPECT_EQ(make_serve_plan(o, *forced, endpoints(1), 8000).workers[0].num_blocks, 100);
}

// --kv-cache-memory-bytes counts the bytes of the cache the device holds: f32 on
// CPU, bf16 on CUDA, so the same bytes make twice the blocks on CUDA.
TEST(ServePlan, KvCacheBytesBuyBlocksOfTheDevicesElementSize) {
  ServeOptions o;
  o.model = "/models/tiny";
  // tiny_model: K and V of 2 layers, 2 KV heads of 16: a 16-token block is 2048 elements.
  o.kv_cache_memory_bytes = 2048 * 4 * 100;
  o.device = "cpu";
  EXPECT_EQ(scheduler_config(o, tiny_model())->num_blocks, 100);
  o.device = "cuda";
  EXPECT_EQ(scheduler_config(o, tiny_model())->num_blocks, 200);
  o.device = "auto";  // unresolved reads as cpu (waypoint sim)
  EXPECT_EQ(scheduler_config(o, tiny_model())->num_blocks, 100);
}

TEST(ServePlan, CpuWorkersGetTheirPoolInTheConfig) {
  ServeOptions o;
  o.model = "/models/tiny";
  o.device = "cpu";
  auto sc = scheduler_config(o, tiny_model());
  ASSERT_TRUE(sc.ok());
  EXPECT_GE(sc->num_blocks, 2);
  auto w =
      worker_config_from_json(to_json_text(make_serve_plan(o, *sc, endpoints(1), 8000).workers[0]));
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->device, "cpu");
  EXPECT_EQ(w->num_blocks, sc->num_blocks);
}

TEST(ServePlan, WorkerConfigRefusesAnUnknownDevice) {
  WorkerProcessConfig w;
  w.device = "tpu";
  auto back = worker_config_from_json(to_json_text(w));
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.error().message.find("tpu"), std::string::npos);
}

}  // namespace
}  // namespace waypoint::cli
