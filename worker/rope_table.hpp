#pragma once
// The rotary embedding's cos/sin table for a model (kernels::cpu::rope_cos_sin_cache's
// layout, [max_position_embeddings, head_dim] floats), with Llama-3 frequency
// scaling when the config asks for it. Both backends build it here, so they rotate
// by the same numbers; the CUDA one copies it to the device.
#include <vector>

#include "worker/model_config.hpp"

namespace waypoint {

std::vector<float> rope_cos_sin_table(const ModelConfig& config);

}  // namespace waypoint
