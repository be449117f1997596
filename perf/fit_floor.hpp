#pragma once
// The physical floor of a step (docs/fit.md): the roofline time the hardware
// needs for the bytes a step must move and the FLOPs it must do, printed
// beside the fitted step time so a user sees how much of each step is the
// model and how much is everything else (scheduling, IPC, launch overheads).
#include <optional>
#include <string_view>

#include "perf/fit_dataset.hpp"
#include "worker/model_config.hpp"

namespace waypoint::fit {

struct DevicePeaks {
  double memory_bandwidth_gb_s = 0;  // GB/s (1e9 bytes)
  double compute_tflops = 0;         // dense 16-bit TFLOP/s; 0: not known, bytes only
};

// The devices of the vLLM performance-modelling summary's hardware table, and
// the H200, by --hw name.
std::optional<DevicePeaks> known_device(std::string_view name);

// What one step must move and compute, from the model's shape.
struct ModelCost {
  // Read once per step whatever the batch: every layer's matrices and norms,
  // the final norm and lm_head. The embedding table is not: only the rows of
  // the step's tokens are gathered (unless tied, when it is lm_head).
  double weight_bytes = 0;
  double kv_bytes_per_token = 0;        // K and V, every layer
  double flops_per_token = 0;           // 2 per matrix weight, lm_head included
  double attention_flops_per_pair = 0;  // QK^T and PV, per query-key pair, every layer
};

// `bytes_per_element`: of the weights and the KV cache as the worker holds
// them (4 on the CPU backend, which computes in f32; 2 on CUDA, bf16).
ModelCost model_cost(const ModelConfig& config, double bytes_per_element);

// Roofline: the larger of the step's bytes over bandwidth and its FLOPs over
// peak. Bytes are the weights plus each scheduled request's KV read once.
double step_floor_us(const ModelCost& cost, const DevicePeaks& peaks, const StepRow& step);

}  // namespace waypoint::fit
