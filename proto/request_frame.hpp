#pragma once
// Frontend -> core framing (docs/architecture.md, "Wire contract"): a two-part ZMQ message, the
// first part one RequestType byte and the second the msgpack body.
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "proto/engine_core_request.hpp"

namespace waypoint {

std::string encode_request_type(RequestType type);
Result<RequestType> decode_request_type(std::string_view frame);

}  // namespace waypoint
