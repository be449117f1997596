#pragma once
#include "base/subcommand.hpp"

namespace waypoint::cli {

// `waypoint make-model`: writes a Hugging Face LlamaForCausalLM directory (config.json,
// safetensors weights, tokenizer.json, tokenizer_config.json) with seeded random weights.
// It is the built-in demo model and the fixture the other components are tested with.
Subcommand make_model_subcommand();

}  // namespace waypoint::cli
