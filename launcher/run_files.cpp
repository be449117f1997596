#include "launcher/run_files.hpp"

#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <system_error>

namespace fs = std::filesystem;

namespace waypoint {

RunFiles::RunFiles() {
  std::string templ = (fs::temp_directory_path() / "waypoint-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) {
    throw std::runtime_error("cannot create a run directory in " +
                             fs::temp_directory_path().string());
  }
  dir_ = templ;
}

RunFiles::~RunFiles() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
  if (!shm_.empty()) fs::remove(shm_, ec);
}

std::string RunFiles::ipc(const std::string& name) const {
  return "ipc://" + (dir_ / name).string();
}

std::string RunFiles::claim_shm(const std::string& name) {
  shm_ = "/dev/shm/waypoint-" + std::to_string(::getpid()) + "-" + name;
  return shm_;
}

}  // namespace waypoint
