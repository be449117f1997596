#pragma once
// A few msgpack encodings written straight into memory, byte for byte as
// msgpack-c's packer writes them (pack_array, pack_str, pack_imp_int32,
// pack_imp_uint64, pack_nil). A hot path lays a value's bytes out in one
// buffer with these and hands them to the stream in one write, where the
// packer makes one stream write per header and scalar.
// tests/proto/msgpack_put_test.cpp checks them against the packer at every
// boundary.
#include <cstdint>

namespace waypoint::msgpack_put {

inline constexpr char kNil = static_cast<char>(0xc0u);

inline char* be16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v);
  return p + 2;
}

inline char* be32(char* p, uint32_t v) {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
  return p + 4;
}

inline char* array_header(char* p, uint32_t n) {
  if (n < 16) {
    *p = static_cast<char>(0x90u | n);
    return p + 1;
  }
  if (n < 65536) {
    *p = static_cast<char>(0xdcu);
    return be16(p + 1, static_cast<uint16_t>(n));
  }
  *p = static_cast<char>(0xddu);
  return be32(p + 1, n);
}

inline char* str_header(char* p, uint32_t n) {
  if (n < 32) {
    *p = static_cast<char>(0xa0u | n);
    return p + 1;
  }
  if (n < 256) {
    p[0] = static_cast<char>(0xd9u);
    p[1] = static_cast<char>(n);
    return p + 2;
  }
  if (n < 65536) {
    *p = static_cast<char>(0xdau);
    return be16(p + 1, static_cast<uint16_t>(n));
  }
  *p = static_cast<char>(0xdbu);
  return be32(p + 1, n);
}

// The smallest form that holds the value, as msgpack-c chooses it.
inline char* int32(char* p, int32_t d) {
  if (d < -(1 << 5)) {
    if (d < -(1 << 15)) {
      *p = static_cast<char>(0xd2u);
      return be32(p + 1, static_cast<uint32_t>(d));
    }
    if (d < -(1 << 7)) {
      *p = static_cast<char>(0xd1u);
      return be16(p + 1, static_cast<uint16_t>(d));
    }
    p[0] = static_cast<char>(0xd0u);
    p[1] = static_cast<char>(d);
    return p + 2;
  }
  if (d < (1 << 7)) {
    *p = static_cast<char>(d);
    return p + 1;
  }
  if (d < (1 << 8)) {
    p[0] = static_cast<char>(0xccu);
    p[1] = static_cast<char>(d);
    return p + 2;
  }
  if (d < (1 << 16)) {
    *p = static_cast<char>(0xcdu);
    return be16(p + 1, static_cast<uint16_t>(d));
  }
  *p = static_cast<char>(0xceu);
  return be32(p + 1, static_cast<uint32_t>(d));
}

// An unsigned value below 2^16 (a wire enum is packed as uint64).
inline char* uint16(char* p, uint16_t d) {
  if (d < (1u << 7)) {
    *p = static_cast<char>(d);
    return p + 1;
  }
  if (d < (1u << 8)) {
    p[0] = static_cast<char>(0xccu);
    p[1] = static_cast<char>(d);
    return p + 2;
  }
  *p = static_cast<char>(0xcdu);
  return be16(p + 1, d);
}

}  // namespace waypoint::msgpack_put
