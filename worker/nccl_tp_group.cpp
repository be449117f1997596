#include "worker/nccl_tp_group.hpp"

#include <nccl.h>

#include <cstring>
#include <stdexcept>
#include <string>

namespace waypoint {

static_assert(NCCL_UNIQUE_ID_BYTES == kNcclIdBytes, "nccl_id.hpp's size must be nccl.h's");
static_assert(sizeof(ncclUniqueId) == kNcclIdBytes);

namespace {
std::string nccl_error(const char* what, ncclResult_t result) {
  return std::string(what) + ": " + ncclGetErrorString(result);
}
}  // namespace

Result<NcclIdBytes> create_nccl_id() {
  ncclUniqueId id;
  if (const ncclResult_t r = ncclGetUniqueId(&id); r != ncclSuccess) {
    return Error{nccl_error("ncclGetUniqueId", r)};
  }
  NcclIdBytes bytes{};
  std::memcpy(bytes.data(), id.internal, kNcclIdBytes);
  return bytes;
}

Result<std::unique_ptr<NcclTpRank>> NcclTpRank::join(const NcclIdBytes& id, int rank,
                                                     int world_size) {
  ncclUniqueId unique;
  std::memcpy(unique.internal, id.data(), kNcclIdBytes);
  ncclComm_t comm = nullptr;
  if (const ncclResult_t r = ncclCommInitRank(&comm, world_size, unique, rank); r != ncclSuccess) {
    return Error{nccl_error(("rank " + std::to_string(rank) + " of " + std::to_string(world_size) +
                             ": ncclCommInitRank")
                                .c_str(),
                            r)};
  }
  return std::make_unique<NcclTpRank>(Key{}, comm, rank, world_size);
}

NcclTpRank::~NcclTpRank() { ncclCommDestroy(comm_); }

void NcclTpRank::all_reduce_sum(kernels::bf16* data, std::size_t count,
                                kernels::cuda::Stream stream) {
  // ncclBfloat16 sums in bf16, as vLLM's all-reduce of bf16 activations does.
  if (const ncclResult_t r = ncclAllReduce(data, data, count, ncclBfloat16, ncclSum, comm_, stream);
      r != ncclSuccess) {
    throw std::runtime_error(nccl_error("ncclAllReduce", r));
  }
}

}  // namespace waypoint
