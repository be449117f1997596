#pragma once
// One entry point for every checkpoint format a worker can serve:
//  - a Hugging Face directory: config.json plus model.safetensors (or sharded with
//    model.safetensors.index.json);
//  - a llama2.c legacy checkpoint: a path to a .bin file, or a directory holding
//    exactly one *.bin file and no config.json.
#include <filesystem>

#include "base/result.hpp"
#include "worker/model_config.hpp"
#include "worker/weight_store.hpp"

namespace waypoint {

struct LoadedModel {
  ModelConfig config;
  WeightStore weights;
};

Result<LoadedModel> load_model(const std::filesystem::path& path);

}  // namespace waypoint
