#include "engine_core/block_hash.hpp"

namespace waypoint {

namespace {
inline uint64_t mix(uint64_t x) {  // splitmix64 finalizer: full avalanche
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}
}  // namespace

BlockHash hash_block_tokens(BlockHash parent, std::span<const TokenId> tokens) {
  // Two independent lanes folded at the end keep collisions near 2^-64 while
  // staying a few ns per block; the length is mixed in so that a shorter
  // block cannot collide with a longer one by construction.
  uint64_t a = mix(parent ^ 0x243f6a8885a308d3ull);
  uint64_t b = mix(parent + tokens.size());
  for (TokenId t : tokens) {
    const auto v = static_cast<uint64_t>(static_cast<uint32_t>(t));
    a = (a ^ v) * 0x100000001b3ull;
    b = mix(b + v);
  }
  return mix(a ^ (b * 0xff51afd7ed558ccdull));
}

}  // namespace waypoint
