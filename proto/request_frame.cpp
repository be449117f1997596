#include "proto/request_frame.hpp"

namespace waypoint {

std::string encode_request_type(RequestType type) {
  return std::string(1, static_cast<char>(type));
}

Result<RequestType> decode_request_type(std::string_view frame) {
  if (frame.size() != 1) {
    return Error{"request type frame must be 1 byte, got " + std::to_string(frame.size())};
  }
  const auto value = static_cast<uint8_t>(frame[0]);
  switch (static_cast<RequestType>(value)) {
    case RequestType::ADD:
    case RequestType::ABORT:
    case RequestType::UTILITY:
      return static_cast<RequestType>(value);
  }
  return Error{"unknown request type " + std::to_string(value)};
}

}  // namespace waypoint
