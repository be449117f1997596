// The one-byte type frame in front of every frontend -> core message
// (docs/architecture.md, "Wire contract": ADD=0, ABORT=1, UTILITY=3).
#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "proto/request_frame.hpp"

namespace waypoint {
namespace {

TEST(proto_RequestFrame, RoundTripsEveryType) {
  for (RequestType t : {RequestType::ADD, RequestType::ABORT, RequestType::UTILITY}) {
    const std::string frame = encode_request_type(t);
    ASSERT_EQ(frame.size(), 1u);
    auto back = decode_request_type(frame);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*back, t);
  }
}

// The byte values are the protocol, shared with vLLM-style frontends.
TEST(proto_RequestFrame, ByteValuesAreFixed) {
  EXPECT_EQ(encode_request_type(RequestType::ADD), std::string(1, '\x00'));
  EXPECT_EQ(encode_request_type(RequestType::ABORT), std::string(1, '\x01'));
  EXPECT_EQ(encode_request_type(RequestType::UTILITY), std::string(1, '\x03'));
}

TEST(proto_RequestFrame, WrongSizeIsRefused) {
  auto empty = decode_request_type("");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().message, "request type frame must be 1 byte, got 0");
  auto two = decode_request_type(std::string("\x00\x00", 2));
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.error().message, "request type frame must be 1 byte, got 2");
}

TEST(proto_RequestFrame, UnknownValuesAreRefused) {
  auto two = decode_request_type(std::string(1, '\x02'));
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.error().message, "unknown request type 2");
  auto ff = decode_request_type(std::string(1, '\xff'));
  ASSERT_FALSE(ff.ok());
  EXPECT_EQ(ff.error().message, "unknown request type 255");

  int accepted = 0;
  for (int b = 0; b < 256; ++b) {
    accepted += decode_request_type(std::string(1, static_cast<char>(b))).ok();
  }
  EXPECT_EQ(accepted, 3);
}

}  // namespace
}  // namespace waypoint
