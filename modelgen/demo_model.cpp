#include "modelgen/demo_model.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "modelgen/make_model_command.hpp"

namespace fs = std::filesystem;

namespace waypoint::cli {

std::string default_cache_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    return (fs::path(xdg) / "waypoint").string();
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    return (fs::path(home) / ".cache" / "waypoint").string();
  }
  return (fs::temp_directory_path() / "waypoint-cache").string();
}

Result<std::string> demo_model(const Logger& log) {
  const fs::path dir = fs::path(default_cache_dir()) / "models" / "demo-tiny";
  if (fs::exists(dir / "config.json") && fs::exists(dir / "tokenizer.json")) return dir.string();
  log.info("no --model given: writing the demo model to " + dir.string());
  std::error_code ec;
  fs::create_directories(dir.parent_path(), ec);
  const fs::path staging = dir.string() + ".tmp-" + std::to_string(::getpid());
  std::ostringstream out, err;
  const int rc = make_model_subcommand().run(
      {"--out", staging.string(), "--preset", "tiny", "--seed", "1", "--force"}, out, err);
  if (rc != 0) return Error{"cannot write the demo model: " + err.str()};
  // A rename is atomic: a concurrent launcher sees a whole model or none.
  fs::rename(staging, dir, ec);
  if (ec) {
    fs::remove_all(staging, ec);
    if (!fs::exists(dir / "config.json"))
      return Error{"cannot place the demo model in " + dir.string()};
  }
  return dir.string();
}

}  // namespace waypoint::cli
