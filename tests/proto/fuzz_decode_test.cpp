// Random and mutated frames through every decoder. A decoder may accept or
// refuse, but it must never crash or throw: a peer controls these bytes.
#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include <gtest/gtest.h>

#include "proto/codec.hpp"
#include "proto/event_hub_frame.hpp"
#include "proto/request_frame.hpp"
#include "sample_messages.hpp"

namespace waypoint {
namespace {

constexpr int kIterations = 100'000;
constexpr std::size_t kMaxRandomLength = 300;

struct Tally {
  int ok = 0;
  int error = 0;
  void count(bool accepted) { accepted ? ++ok : ++error; }
};

// An accepted value must re-encode to a frame that decodes to the same bytes
// again; otherwise the core could forward something its peers cannot read.
template <class T>
bool decode_one(std::string_view bytes) {
  auto r = decode<T>(bytes);
  if (!r.ok()) {
    EXPECT_FALSE(r.error().message.empty());
    return false;
  }
  const std::string once = encode(*r);
  auto again = decode<T>(once);
  EXPECT_TRUE(again.ok()) << "re-encoded " << typeid(T).name() << " does not decode";
  if (again.ok()) {
    EXPECT_EQ(encode(*again), once);
  }
  return true;
}

// Not test::for_each_wire_type: its per-type trace would dominate this loop.
void decode_as_every_type(std::string_view bytes, Tally& tally) {
  tally.count(decode_one<SamplingParams>(bytes));
  tally.count(decode_one<EngineCoreRequest>(bytes));
  tally.count(decode_one<AbortRequests>(bytes));
  tally.count(decode_one<UtilityCall>(bytes));
  tally.count(decode_one<EngineCoreOutput>(bytes));
  tally.count(decode_one<SchedulerStats>(bytes));
  tally.count(decode_one<RequestJourneyEvent>(bytes));
  tally.count(decode_one<EngineCoreOutputs>(bytes));
  tally.count(decode_one<NewRequestData>(bytes));
  tally.count(decode_one<CachedRequestData>(bytes));
  tally.count(decode_one<SchedulerOutput>(bytes));
  tally.count(decode_one<ModelRunnerOutput>(bytes));
}

std::vector<std::string> seed_frames() {
  std::vector<std::string> seeds = {
      encode(test::full_sampling_params()),
      encode(test::full_engine_core_request()),
      encode(test::full_abort_requests()),
      encode(test::full_utility_call()),
      encode(test::full_engine_core_output()),
      encode(test::full_scheduler_stats()),
      encode(test::full_journey_event()),
      encode(test::full_engine_core_outputs()),
      encode(test::full_new_request_data()),
      encode(test::full_cached_request_data()),
      encode(test::full_scheduler_output()),
      encode(test::full_model_runner_output()),
      encode(EngineCoreOutputs{}),
      encode(EngineCoreRequest{}),
  };
  HubPayload payload;
  payload.ts = 1732380000.25;
  payload.producer = "engine-0";
  payload.events.push_back(HubEvent{{{"event.type", std::string("QUEUED")},
                                     {"request.id", std::string("cmpl-3f2a9c1e0b7d4e5f-0")},
                                     {"scheduler.step", int64_t{-3}},
                                     {"ts.monotonic", 8123.5},
                                     {"resumed", true},
                                     {"finish.status", AttrValue{}}}});
  seeds.push_back(encode_hub_payload(payload));
  const auto seq = encode_seq(0x0102030405060708);
  seeds.emplace_back(seq.data(), seq.size());
  seeds.push_back(encode_request_type(RequestType::UTILITY));
  return seeds;
}

class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}

  std::string next(const std::vector<std::string>& seeds) {
    if (below(5) == 0) return random_bytes(below(kMaxRandomLength + 1));
    std::string s = seeds[below(seeds.size())];
    const std::size_t rounds = 1 + below(4);
    for (std::size_t i = 0; i < rounds; ++i) mutate(s);
    return s;
  }

  std::size_t below(std::size_t n) { return n == 0 ? 0 : rng_() % n; }

 private:
  // Bytes that change how the rest of a frame is read: container and length
  // headers, nil, the reserved 0xc1, and the integer edges.
  static constexpr std::array<uint8_t, 16> kInteresting = {0x00, 0x7f, 0x80, 0x90, 0x91, 0xa0,
                                                           0xc0, 0xc1, 0xc2, 0xcb, 0xcf, 0xd3,
                                                           0xdc, 0xdd, 0xdf, 0xff};

  char some_byte() {
    return static_cast<char>(below(2) ? kInteresting[below(kInteresting.size())] : rng_() & 0xff);
  }

  std::string random_bytes(std::size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng_() & 0xff);
    return s;
  }

  void mutate(std::string& s) {
    switch (below(6)) {
      case 0:  // flip one bit
        if (!s.empty()) s[below(s.size())] ^= static_cast<char>(1u << below(8));
        break;
      case 1:  // truncate
        s.resize(below(s.size() + 1));
        break;
      case 2:  // insert a byte
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(below(s.size() + 1)), some_byte());
        break;
      case 3:  // overwrite a byte
        if (!s.empty()) s[below(s.size())] = some_byte();
        break;
      case 4:  // delete a span
        if (!s.empty()) {
          const std::size_t at = below(s.size());
          s.erase(at, 1 + below(std::min<std::size_t>(8, s.size() - at)));
        }
        break;
      default:  // duplicate a span, as a resent or doubled field would
        if (!s.empty() && s.size() < 2 * kMaxRandomLength) {
          const std::size_t at = below(s.size());
          const std::size_t len = 1 + below(std::min<std::size_t>(16, s.size() - at));
          s.insert(at, s.substr(at, len));
        }
        break;
    }
  }

  std::mt19937_64 rng_;
};

TEST(proto_Fuzz, DecodersNeverCrashOrThrow) {
  const std::vector<std::string> seeds = seed_frames();
  Mutator mutator(0x5eed'f00d'cafe'0001);
  Tally typed, hub;
  for (int i = 0; i < kIterations; ++i) {
    const std::string input = mutator.next(seeds);
    try {
      decode_as_every_type(input, typed);

      auto payload = decode_hub_payload(input);
      hub.count(payload.ok());
      if (payload.ok()) {
        // Whatever was accepted must be publishable again unchanged.
        auto again = decode_hub_payload(encode_hub_payload(*payload));
        ASSERT_TRUE(again.ok()) << again.error().message;
        EXPECT_EQ(encode_hub_payload(*again), encode_hub_payload(*payload));
      }

      // Cut the input into 1 to 4 parts, as a multipart message of any shape.
      std::vector<std::string_view> parts;
      const std::size_t nparts = 1 + mutator.below(4);
      std::size_t at = 0;
      for (std::size_t p = 0; p + 1 < nparts; ++p) {
        const std::size_t len = mutator.below(input.size() - at + 1);
        parts.emplace_back(input.data() + at, len);
        at += len;
      }
      parts.emplace_back(input.data() + at, input.size() - at);
      hub.count(decode_hub_frame(parts).ok());
      hub.count(decode_seq(input).ok());
      hub.count(decode_request_type(input).ok());
      hub.count(decode_request_type(std::string_view(input).substr(0, 1)).ok());
    } catch (const std::exception& e) {
      FAIL() << "input " << i << " threw: " << e.what();
    }
    // One failing input is enough to reproduce; do not bury it under thousands more.
    if (::testing::Test::HasFailure()) FAIL() << "stopped at input " << i;
  }
  // A fuzz run that never gets past the first byte proves little: mutations of
  // valid frames must both reach the accepting paths and hit the error paths.
  EXPECT_GT(typed.ok, kIterations / 100);
  EXPECT_GT(typed.error, kIterations);
  EXPECT_GT(hub.ok, kIterations / 100);
  EXPECT_GT(hub.error, kIterations / 100);
}

}  // namespace
}  // namespace waypoint
