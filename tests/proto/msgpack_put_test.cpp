// proto/msgpack_put.hpp writes msgpack by hand for EngineCoreOutput, the one message
// packed for every running request every step. Its bytes must be msgpack-c's own: each
// encoding is checked against the packer at every boundary, and whole outputs against
// the generic packing MSGPACK_DEFINE_ARRAY does.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <msgpack.hpp>

#include "proto/codec.hpp"
#include "proto/engine_core_output.hpp"
#include "proto/msgpack_put.hpp"
#include "sample_messages.hpp"

namespace waypoint {
namespace {

template <class Pack>
std::string packed(Pack pack) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pack(pk);
  return std::string(buffer.data(), buffer.size());
}

template <class Put>
std::string put(Put f) {
  char buf[16];
  return std::string(buf, f(buf));
}

TEST(proto_MsgpackPut, Int32MatchesThePackerAtEveryBoundary) {
  std::vector<int32_t> values = {std::numeric_limits<int32_t>::min(),
                                 std::numeric_limits<int32_t>::max()};
  for (int64_t edge : {-(1 << 15), -(1 << 7), -(1 << 5), 0, 1 << 7, 1 << 8, 1 << 16}) {
    for (int64_t d = -1; d <= 1; ++d) values.push_back(static_cast<int32_t>(edge + d));
  }
  for (const int32_t v : values) {
    EXPECT_EQ(put([&](char* p) { return msgpack_put::int32(p, v); }),
              packed([&](auto& pk) { pk.pack(v); }))
        << v;
  }
}

TEST(proto_MsgpackPut, HeadersAndSmallUnsignedMatchThePacker) {
  for (const uint32_t n : {0u, 15u, 16u, 31u, 32u, 255u, 256u, 65535u, 65536u, 70000u}) {
    EXPECT_EQ(put([&](char* p) { return msgpack_put::array_header(p, n); }),
              packed([&](auto& pk) { pk.pack_array(n); }))
        << n;
    EXPECT_EQ(put([&](char* p) { return msgpack_put::str_header(p, n); }),
              packed([&](auto& pk) { pk.pack_str(n); }))
        << n;
  }
  for (const uint16_t v : {0, 1, 127, 128, 255, 256, 65535}) {
    EXPECT_EQ(put([&](char* p) { return msgpack_put::uint16(p, v); }),
              packed([&](auto& pk) { pk.pack(static_cast<uint64_t>(v)); }))
        << v;
  }
  EXPECT_EQ(std::string(1, msgpack_put::kNil), packed([](auto& pk) { pk.pack_nil(); }));
}

// The fast packing of EngineCoreOutput against MSGPACK_DEFINE_ARRAY's, over outputs
// that take every branch: ids and token lists of each header size, optionals set and
// not, events, and outputs too big for the fast path.
TEST(proto_MsgpackPut, EngineCoreOutputPacksAsTheGenericPackerDoes) {
  std::vector<EngineCoreOutput> outputs = {EngineCoreOutput{}, test::full_engine_core_output()};
  for (const size_t id_size : {0, 5, 31, 32, 255, 256, 300}) {
    for (const size_t num_tokens : {0, 1, 15, 16, 60}) {
      EngineCoreOutput o;
      o.request_id.assign(id_size, 'x');
      for (size_t k = 0; k < num_tokens; ++k) {
        o.new_token_ids.push_back(static_cast<TokenId>(k * 40503 % 140000) - 200);
      }
      o.num_cached_tokens = static_cast<int32_t>(id_size * 1000);
      if (num_tokens % 2 == 1) {
        o.finish_reason = FinishReason::LENGTH;
        o.stop_reason = -70000;
      }
      if (num_tokens == 15) o.events = {{EngineCoreEventType::SCHEDULED, 12.5}};
      outputs.push_back(o);
    }
  }
  for (const EngineCoreOutput& o : outputs) {
    EXPECT_EQ(encode(o), packed([&](auto& pk) { o.msgpack_pack(pk); }))
        << "id of " << o.request_id.size() << ", " << o.new_token_ids.size() << " tokens";
    EXPECT_EQ(decode<EngineCoreOutput>(encode(o)).value(), o);
  }
  EngineCoreOutputs batch;
  batch.outputs = outputs;
  EXPECT_EQ(decode<EngineCoreOutputs>(encode(batch)).value(), batch);
}

}  // namespace
}  // namespace waypoint
