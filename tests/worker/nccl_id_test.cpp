// The NCCL unique id as it travels through the launcher's control channel.
#include "worker/nccl_id.hpp"

#include <cctype>

#include <gtest/gtest.h>

namespace waypoint {
namespace {

NcclIdBytes pattern() {
  NcclIdBytes id{};
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(i * 37 + 11);
  return id;
}

TEST(NcclId, RoundTripsEveryByte) {
  NcclIdBytes all{};
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint8_t>(255 - i);  // 0x80..0xff too
  for (const NcclIdBytes& id : {pattern(), all, NcclIdBytes{}}) {
    const std::string text = encode_nccl_id(id);
    EXPECT_EQ(text.size(), 2 * kNcclIdBytes);
    auto back = decode_nccl_id(text);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*back, id);
  }
}

TEST(NcclId, IsLowercaseHexAndAcceptsUppercase) {
  NcclIdBytes id{};
  id[0] = 0xab;
  id[127] = 0x0f;
  const std::string text = encode_nccl_id(id);
  EXPECT_EQ(text.substr(0, 2), "ab");
  EXPECT_EQ(text.substr(254), "0f");
  std::string upper = text;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(*decode_nccl_id(upper), id);
}

TEST(NcclId, MalformedTextIsRefused) {
  const std::string good = encode_nccl_id(pattern());
  EXPECT_FALSE(decode_nccl_id("").ok());
  EXPECT_FALSE(decode_nccl_id(good.substr(1)).ok());
  EXPECT_FALSE(decode_nccl_id(good + "00").ok());
  std::string bad = good;
  bad[17] = 'g';
  auto r = decode_nccl_id(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("17"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace waypoint
