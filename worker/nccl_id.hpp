#pragma once
// An NCCL unique id as text. Rank 0 creates the id (ncclGetUniqueId) and the other
// ranks must receive the same 128 bytes before they can join the communicator;
// they travel through the launcher's control channel, whose payloads are text,
// as lowercase hex. Kept apart from NCCL itself so the codec is tested anywhere.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace waypoint {

// NCCL_UNIQUE_ID_BYTES; nccl_tp_group.cpp checks it against nccl.h.
inline constexpr std::size_t kNcclIdBytes = 128;
using NcclIdBytes = std::array<std::uint8_t, kNcclIdBytes>;

std::string encode_nccl_id(const NcclIdBytes& id);

// Exactly 2 * kNcclIdBytes hex digits (either case); anything else is an error.
Result<NcclIdBytes> decode_nccl_id(std::string_view text);

}  // namespace waypoint
