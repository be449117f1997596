#include "worker/model_loader.hpp"

#include <vector>

#include "worker/llama2c_checkpoint.hpp"

namespace waypoint {

namespace fs = std::filesystem;

Result<LoadedModel> load_model(const fs::path& path) {
  const std::string src = path.string();
  std::error_code ec;
  if (!fs::exists(path, ec)) return Error{src + ": no such file or directory"};
  if (fs::is_regular_file(path, ec)) {
    if (path.extension() == ".bin") return load_llama2c_checkpoint(path);
    return Error{src + ": not a model directory or a llama2.c .bin checkpoint"};
  }
  if (!fs::is_directory(path, ec)) return Error{src + ": not a model directory"};

  if (!fs::exists(path / "config.json", ec)) {
    std::vector<fs::path> bins;
    for (const auto& e : fs::directory_iterator(path, ec)) {
      if (e.is_regular_file(ec) && e.path().extension() == ".bin") bins.push_back(e.path());
    }
    if (bins.size() == 1) return load_llama2c_checkpoint(bins.front());
    if (bins.size() > 1) {
      return Error{src + ": no config.json, and " + std::to_string(bins.size()) +
                   " .bin files (a llama2.c checkpoint directory must hold exactly one)"};
    }
    // Fall through: load_model_config names the missing config.json.
  }
  auto config = load_model_config(path);
  if (!config) return config.error();
  auto weights = WeightStore::open(path);
  if (!weights) return weights.error();
  return LoadedModel{std::move(*config), std::move(*weights)};
}

}  // namespace waypoint
