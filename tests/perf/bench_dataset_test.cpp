// The benchmark datasets: random prompts, ShareGPT filtering and trace
// replay, on small fixtures in tests/tools/data.
#include "perf/bench_dataset.hpp"

#include <sstream>

#include <gtest/gtest.h>

#include "perf/bench_client.hpp"

namespace waypoint::bench {
namespace {

const std::string kData = WAYPOINT_TEST_DATA_DIR;

TEST(BenchDataset, RandomLengthsStayInTheRange) {
  std::mt19937_64 rng(5);
  auto requests = random_requests({100, 20, 0.5}, 500, 512, rng);
  ASSERT_TRUE(requests);
  ASSERT_EQ(requests->size(), 500u);
  int64_t min_in = 1 << 30, max_in = 0;
  for (const auto& r : *requests) {
    EXPECT_GE(r.prompt_len, 50);
    EXPECT_LE(r.prompt_len, 150);
    EXPECT_GE(r.output_len, 10);
    EXPECT_LE(r.output_len, 30);
    ASSERT_EQ(static_cast<int64_t>(r.prompt_token_ids.size()), r.prompt_len);
    for (size_t j = 0; j < r.prompt_token_ids.size(); ++j) {
      ASSERT_GE(r.prompt_token_ids[j], 0);
      ASSERT_LT(r.prompt_token_ids[j], 512);
      if (j > 0) {
        EXPECT_EQ(r.prompt_token_ids[j], (r.prompt_token_ids[j - 1] + 1) % 512);
      }
    }
    min_in = std::min(min_in, r.prompt_len);
    max_in = std::max(max_in, r.prompt_len);
  }
  // 500 draws cover most of the range.
  EXPECT_LT(min_in, 60);
  EXPECT_GT(max_in, 140);
}

TEST(BenchDataset, RandomWithoutRangeIsExactAndSeeded) {
  std::mt19937_64 a(9), b(9);
  auto first = random_requests({16, 8, 0.0}, 4, 512, a);
  auto second = random_requests({16, 8, 0.0}, 4, 512, b);
  ASSERT_TRUE(first && second);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*first)[i].prompt_len, 16);
    EXPECT_EQ((*first)[i].output_len, 8);
    EXPECT_EQ((*first)[i].prompt_token_ids, (*second)[i].prompt_token_ids);
  }
  std::mt19937_64 rng(1);
  EXPECT_FALSE(random_requests({16, 8, 1.0}, 4, 512, rng));
  EXPECT_FALSE(random_requests({0, 8, 0.0}, 4, 512, rng));
}

// Words as tokens, with markers for lengths no fixture line should carry.
Result<int64_t> count_words(const std::string& text) {
  if (text == "LONGPROMPT") return int64_t{1000};
  if (text == "LONGREPLY") return int64_t{1100};
  if (text == "HUGEPROMPT") return int64_t{1025};
  std::istringstream in(text);
  int64_t n = 0;
  std::string word;
  while (in >> word) ++n;
  return n;
}

TEST(BenchDataset, ShareGptKeepsHumanThenGptPairs) {
  auto conversations = read_sharegpt(kData + "/bench_sharegpt.json");
  ASSERT_TRUE(conversations) << conversations.error().message;
  ASSERT_EQ(conversations->size(), 6u);
  bool system_first_seen = false;
  for (const auto& c : *conversations) {
    if (c.prompt == "alpha beta gamma delta") {
      system_first_seen = true;
      EXPECT_EQ(c.completion, "epsilon zeta eta theta");
    }
  }
  EXPECT_TRUE(system_first_seen);
  EXPECT_FALSE(read_sharegpt(kData + "/missing.json"));
  EXPECT_FALSE(read_sharegpt(kData + "/bench_trace.jsonl"));
}

TEST(BenchDataset, ShareGptSkipsTooShortAndTooLongLikeVllm) {
  auto conversations = read_sharegpt(kData + "/bench_sharegpt.json");
  ASSERT_TRUE(conversations);
  std::mt19937_64 rng(1);
  auto requests = sample_sharegpt(*conversations, 10, count_words, rng);
  ASSERT_TRUE(requests);
  ASSERT_EQ(requests->size(), 2u);
  for (const auto& r : *requests) {
    if (r.prompt_text == "one two three four five") {
      EXPECT_EQ(r.prompt_len, 5);
      EXPECT_EQ(r.output_len, 6);
    } else {
      EXPECT_EQ(r.prompt_text, "alpha beta gamma delta");
      EXPECT_EQ(r.output_len, 4);
    }
    EXPECT_TRUE(r.prompt_token_ids.empty());
  }
  // At most `count`.
  std::mt19937_64 rng2(1);
  auto one = sample_sharegpt(*conversations, 1, count_words, rng2);
  ASSERT_TRUE(one);
  EXPECT_EQ(one->size(), 1u);
  // A fixed output length keeps the short reply, and the long one (1000 + 2
  // tokens in all); the prompt checks stay.
  std::mt19937_64 rng3(1);
  auto fixed = sample_sharegpt(*conversations, 10, count_words, rng3, int64_t{2});
  ASSERT_TRUE(fixed);
  EXPECT_EQ(fixed->size(), 4u);
  for (const auto& r : *fixed) EXPECT_EQ(r.output_len, 2);
}

TEST(BenchDataset, ShareGptPassesOnTheTokenizerFailure) {
  std::mt19937_64 rng(1);
  auto failed = sample_sharegpt(
      {{"a b c d", "e f g h"}}, 1,
      [](const std::string&) -> Result<int64_t> { return Error{"POST /tokenize: refused"}; }, rng);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().message, "POST /tokenize: refused");
}

TEST(BenchDataset, TraceReplaysRecordedArrivalsAndLengths) {
  auto traced = read_trace(kData + "/bench_trace.jsonl");
  ASSERT_TRUE(traced) << traced.error().message;
  ASSERT_EQ(traced->size(), 3u);
  EXPECT_EQ((*traced)[0].request_id, "cmpl-a");
  EXPECT_DOUBLE_EQ((*traced)[0].arrival_offset, 0.0);
  EXPECT_EQ((*traced)[0].prompt_len, 6);
  EXPECT_EQ((*traced)[0].output_len, 5);  // DEPARTED's count
  EXPECT_EQ((*traced)[1].request_id, "cmpl-b");
  EXPECT_NEAR((*traced)[1].arrival_offset, 0.25, 1e-9);
  EXPECT_EQ((*traced)[1].prompt_len, 9);
  EXPECT_EQ((*traced)[1].output_len, 32);  // no DEPARTED: max_tokens
  EXPECT_EQ((*traced)[2].request_id, "cmpl-c");
  EXPECT_NEAR((*traced)[2].arrival_offset, 1.0, 1e-9);
  EXPECT_EQ((*traced)[2].output_len, 2);  // stopped early: what it produced

  std::mt19937_64 rng(1);
  const auto requests = trace_requests(*traced, 0, 512, rng);
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[1].prompt_token_ids.size(), 9u);
  EXPECT_EQ(requests[1].output_len, 32);
  EXPECT_NEAR(*requests[2].arrival_offset, 1.0, 1e-9);
  EXPECT_EQ(trace_requests(*traced, 2, 512, rng).size(), 2u);
}

TEST(BenchDataset, TraceErrorsNameTheProblem) {
  auto missing = read_trace(kData + "/missing.jsonl");
  ASSERT_FALSE(missing);
  auto not_a_trace = read_trace(kData + "/bench_sharegpt.json");
  ASSERT_FALSE(not_a_trace);
  EXPECT_NE(not_a_trace.error().message.find(":1:"), std::string::npos)
      << not_a_trace.error().message;
}

TEST(BenchClient, StreamAccumulatorTimesChunksAsVllm) {
  StreamAccumulator a;
  // Bytes split mid-line, as TCP may deliver them.
  a.feed("data: {\"choices\":[{\"text\":\"a\"}]}\n\nda", 0.5);
  a.feed("ta: {\"choices\":[{\"text\":\"b\"}]}\n\n", 0.75);
  a.feed("data: {\"choices\":[{\"text\":\"\",\"finish_reason\":\"length\"}]}\n\n", 1.0);
  a.feed(
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":7}}\n\n"
      "data: [DONE]\n\n",
      1.5);
  const RequestRecord r = a.finish(4);
  EXPECT_TRUE(r.success);
  EXPECT_DOUBLE_EQ(r.ttft, 0.5);
  EXPECT_DOUBLE_EQ(r.latency, 1.0);  // the last chunk with choices, not the usage
  EXPECT_EQ(r.itl, (std::vector<double>{0.25, 0.25}));
  EXPECT_EQ(r.output_tokens, 7);  // the usage wins over the 3 chunks
  EXPECT_EQ(r.prompt_len, 4);
}

TEST(BenchClient, StreamAccumulatorCountsChunksWithoutUsageAndSeesErrors) {
  StreamAccumulator counted;
  counted.feed(
      "data: {\"choices\":[{\"text\":\"a\"}]}\r\n\r\ndata: {\"choices\":[{\"text\":\"b\"}]}\n\n",
      0.1);
  EXPECT_EQ(counted.finish(1).output_tokens, 2);

  StreamAccumulator empty;
  empty.feed("data: [DONE]\n\n", 0.1);
  EXPECT_FALSE(empty.finish(1).success);

  StreamAccumulator errored;
  errored.feed("data: {\"choices\":[{\"text\":\"a\"}]}\n\n", 0.1);
  errored.feed("event: error\ndata: {\"error\":{\"message\":\"engine failed\"}}\n\n", 0.2);
  const RequestRecord r = errored.finish(1);
  EXPECT_FALSE(r.success);
  EXPECT_EQ(r.error, "engine failed");
}

TEST(BenchClient, BaseUrlParsing) {
  auto a = parse_base_url("http://127.0.0.1:8123");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8123);
  EXPECT_EQ(a->path_prefix, "");
  auto b = parse_base_url("http://example:80/proxy/");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->path_prefix, "/proxy");
  EXPECT_FALSE(parse_base_url("https://x:1"));
  EXPECT_FALSE(parse_base_url("http://x:notaport"));
}

}  // namespace
}  // namespace waypoint::bench
