#pragma once
// The files one run of the launcher owns: a private directory in /tmp for its
// ZeroMQ ipc sockets, and the CPU tensor-parallel region in /dev/shm. Both are
// removed however the launcher leaves, by return or by exception.
#include <filesystem>
#include <string>

namespace waypoint {

class RunFiles {
 public:
  // Creates the directory; throws std::runtime_error when it cannot.
  RunFiles();
  ~RunFiles();
  RunFiles(const RunFiles&) = delete;
  RunFiles& operator=(const RunFiles&) = delete;

  // "ipc://<dir>/<name>": an endpoint inside the run directory.
  std::string ipc(const std::string& name) const;
  // A /dev/shm path for this run's tensor-parallel region, removed with the run.
  std::string claim_shm(const std::string& name);

 private:
  std::filesystem::path dir_;
  std::string shm_;
};

}  // namespace waypoint
