#pragma once
// msgpack adaptor for wire enums: packed as their integer value, and a value
// outside the enum's known set is a decode error, not an out-of-range enum.
#include <cstdint>
#include <limits>
#include <type_traits>

#include <msgpack.hpp>

namespace waypoint {
// Each wire enum provides `bool is_known(E)`, found by argument-dependent lookup.
}  // namespace waypoint

#define WAYPOINT_CHECKED_ENUM(E)                                                          \
  namespace msgpack {                                                                     \
  MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS) {                                 \
    namespace adaptor {                                                                   \
    template <>                                                                           \
    struct convert<E> {                                                                   \
      const msgpack::object& operator()(const msgpack::object& o, E& v) const {           \
        using U = std::underlying_type_t<E>;                                              \
        if (o.type != msgpack::type::POSITIVE_INTEGER) throw msgpack::type_error();       \
        if (o.via.u64 > static_cast<uint64_t>(std::numeric_limits<U>::max()))             \
          throw msgpack::type_error();                                                    \
        E candidate = static_cast<E>(static_cast<U>(o.via.u64));                          \
        if (!is_known(candidate)) throw msgpack::type_error();                            \
        v = candidate;                                                                    \
        return o;                                                                         \
      }                                                                                   \
    };                                                                                    \
    template <>                                                                           \
    struct pack<E> {                                                                      \
      template <typename Stream>                                                          \
      msgpack::packer<Stream>& operator()(msgpack::packer<Stream>& p, const E& v) const { \
        return p.pack(static_cast<uint64_t>(v));                                          \
      }                                                                                   \
    };                                                                                    \
    template <>                                                                           \
    struct object_with_zone<E> {                                                          \
      void operator()(msgpack::object::with_zone& o, const E& v) const {                  \
        o << static_cast<uint64_t>(v);                                                    \
      }                                                                                   \
    };                                                                                    \
    }                                                                                     \
  }                                                                                       \
  }
