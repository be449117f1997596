#pragma once
// Prefix-cache keys. A full block's hash chains its parent's hash with its own
// tokens, so equal hashes mean equal whole prefixes, not only equal blocks.
#include <cstdint>
#include <span>

#include "proto/engine_core_request.hpp"

namespace waypoint {

using BlockHash = uint64_t;

// The parent of a request's first block. Fixed, not random per process, so
// that hashes agree across processes (KV events, the simulator).
inline constexpr BlockHash kRootBlockHash = 0x9e3779b97f4a7c15ull;

BlockHash hash_block_tokens(BlockHash parent, std::span<const TokenId> tokens);

}  // namespace waypoint
