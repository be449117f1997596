#include "frontend/openai_protocol.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "frontend/openai_response.hpp"

namespace waypoint {
namespace {

using Json = nlohmann::ordered_json;
using Ids = std::vector<int32_t>;

// --- Helpers -------------------------------------------------------------------

std::string completion_body(const std::string& fields) {
  return fields.empty() ? R"({"prompt":"hi"})" : R"({"prompt":"hi",)" + fields + "}";
}

std::string chat_body(const std::string& fields) {
  const std::string messages = R"("messages":[{"role":"user","content":"hi"}])";
  return fields.empty() ? "{" + messages + "}" : "{" + messages + "," + fields + "}";
}

GenerationParams completion_params(const std::string& fields) {
  const std::string body = completion_body(fields);
  auto r = parse_completion_request(body);
  EXPECT_TRUE(r.ok()) << body << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? r->params : GenerationParams{};
}

GenerationParams chat_params(const std::string& fields) {
  const std::string body = chat_body(fields);
  auto r = parse_chat_request(body);
  EXPECT_TRUE(r.ok()) << body << ": " << (r.ok() ? "" : r.error().message);
  return r.ok() ? r->params : GenerationParams{};
}

// A 400 whose param is `param` and whose message contains `what`.
template <class T>
void expect_bad(const ApiResult<T>& r, const std::optional<std::string>& param,
                std::string_view what, std::string_view body) {
  ASSERT_FALSE(r.ok()) << "accepted: " << body;
  EXPECT_EQ(r.error().status, 400) << body;
  EXPECT_EQ(r.error().type, "BadRequestError") << body;
  EXPECT_EQ(r.error().param, param) << body << ": " << r.error().message;
  EXPECT_NE(r.error().message.find(what), std::string::npos)
      << body << ": message \"" << r.error().message << "\" lacks \"" << what << "\"";
}

struct BadCase {
  std::string fields;  // JSON members added to a valid body
  std::string param;
  std::string what;  // a substring of the message
};

// Rules shared by both generation endpoints are checked on both.
void expect_bad_both(const std::vector<BadCase>& cases) {
  for (const BadCase& c : cases) {
    const std::string cb = completion_body(c.fields);
    expect_bad(parse_completion_request(cb), c.param, c.what, cb);
    const std::string hb = chat_body(c.fields);
    expect_bad(parse_chat_request(hb), c.param, c.what, hb);
  }
}

void expect_bad_completion(const std::vector<BadCase>& cases) {
  for (const BadCase& c : cases) {
    const std::string b = completion_body(c.fields);
    expect_bad(parse_completion_request(b), c.param, c.what, b);
  }
}

void expect_bad_chat(const std::vector<BadCase>& cases) {
  for (const BadCase& c : cases) {
    const std::string b = chat_body(c.fields);
    expect_bad(parse_chat_request(b), c.param, c.what, b);
  }
}

void expect_bad_chat_body(const std::string& body, const std::string& param,
                          std::string_view what) {
  expect_bad(parse_chat_request(body), param, what, body);
}

// --- Errors ------------------------------------------------------------------

TEST(ApiError, HelpersSetStatusAndType) {
  const ApiError b = bad_request("bad", "temperature");
  EXPECT_EQ(b.status, 400);
  EXPECT_EQ(b.type, "BadRequestError");
  EXPECT_EQ(b.param, "temperature");
  EXPECT_EQ(bad_request("bad").param, std::nullopt);

  const ApiError nf = not_found("nope");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(nf.type, "NotFoundError");
  EXPECT_EQ(nf.param, std::nullopt);

  const ApiError m = model_not_found("gpt-4");
  EXPECT_EQ(m.status, 404);
  EXPECT_EQ(m.type, "NotFoundError");
  EXPECT_EQ(m.message, "The model `gpt-4` does not exist.");
  EXPECT_EQ(m.param, "model");

  EXPECT_EQ(unauthorized("x").status, 401);
  EXPECT_EQ(unauthorized("x").type, "AuthenticationError");
  EXPECT_EQ(internal_error("x").status, 500);
  EXPECT_EQ(internal_error("x").type, "InternalServerError");
  EXPECT_EQ(unavailable("x").status, 503);
  EXPECT_EQ(unavailable("x").type, "ServiceUnavailableError");
  EXPECT_EQ(payload_too_large("x").status, 413);
  EXPECT_EQ(payload_too_large("x").type, "BadRequestError");
}

TEST(ApiError, JsonShape) {
  const Json j = Json::parse(error_json(bad_request("top_p must be in (0, 1]", "top_p")));
  ASSERT_EQ(j.size(), 1u);
  const Json& e = j.at("error");
  EXPECT_EQ(e.size(), 4u);
  EXPECT_EQ(e.at("message"), "top_p must be in (0, 1]");
  EXPECT_EQ(e.at("type"), "BadRequestError");
  EXPECT_EQ(e.at("param"), "top_p");
  EXPECT_EQ(e.at("code"), 400);

  const Json n = Json::parse(error_json(unavailable("engine is down")));
  EXPECT_TRUE(n.at("error").at("param").is_null());
  EXPECT_EQ(n.at("error").at("code"), 503);
  EXPECT_EQ(n.at("error").at("type"), "ServiceUnavailableError");
}

TEST(ApiError, JsonToleratesInvalidUtf8) {
  std::string s;
  EXPECT_NO_THROW(s = error_json(not_found("model `\xff` not found")));
  EXPECT_EQ(Json::parse(s).at("error").at("message"), "model `\xEF\xBF\xBD` not found");
}

TEST(ApiResult, HoldsValueOrError) {
  ApiResult<int> ok = 7;
  EXPECT_TRUE(ok.ok());
  EXPECT_TRUE(static_cast<bool>(ok));
  EXPECT_EQ(*ok, 7);
  EXPECT_EQ(ok.value(), 7);

  ApiResult<std::string> s = std::string("abc");
  EXPECT_EQ(s->size(), 3u);
  const std::string moved = *std::move(s);
  EXPECT_EQ(moved, "abc");

  ApiResult<int> bad = bad_request("no", "n");
  EXPECT_FALSE(bad.ok());
  EXPECT_FALSE(static_cast<bool>(bad));
  EXPECT_EQ(bad.error().message, "no");
  EXPECT_EQ(bad.error().param, "n");
}

// --- The body itself ------------------------------------------------------------

TEST(RequestBody, InvalidUtf8IsRejectedByEveryParser) {
  const std::string body = "{\"prompt\":\"caf\xC3\"}";  // truncated é
  for (const auto& err :
       {parse_completion_request(body).error(), parse_chat_request(body).error(),
        parse_tokenize_request(body).error(), parse_detokenize_request(body).error()}) {
    EXPECT_EQ(err.status, 400);
    EXPECT_EQ(err.param, std::nullopt);
    EXPECT_TRUE(err.message.starts_with("request body is not valid UTF-8")) << err.message;
    EXPECT_NE(err.message.find("byte 14"), std::string::npos) << err.message;
  }
  // A surrogate encoded directly (CESU-8) is ill-formed too.
  expect_bad(parse_completion_request("{\"prompt\":\"\xED\xA0\x80\"}"), std::nullopt,
             "not valid UTF-8", "surrogate");
}

TEST(RequestBody, MalformedJsonNamesThePosition) {
  for (const std::string body : {R"({"prompt": "hi",})", R"({"prompt": )", R"({"prompt" "x"})",
                                 R"({"prompt":"x"} trailing)", "{'prompt': 'x'}"}) {
    const auto r = parse_completion_request(body);
    expect_bad(r, std::nullopt, "invalid JSON in request body: parse error at line 1, column",
               body);
    EXPECT_EQ(r.error().message.find("[json.exception"), std::string::npos) << r.error().message;
  }
  const auto r = parse_chat_request("{\n\"messages\": [\n}");
  expect_bad(r, std::nullopt, "line 3, column 1", "multi-line");
  // A lone escaped surrogate is not valid JSON text either.
  expect_bad(parse_completion_request(R"({"prompt":"\ud800"})"), std::nullopt, "invalid JSON",
             "lone surrogate escape");
}

TEST(RequestBody, EmptyAndNonObjectBodies) {
  for (const std::string body : {"", "  \n"}) {
    expect_bad(parse_completion_request(body), std::nullopt, "request body is empty", body);
  }
  for (const std::string body : {"[]", R"("prompt")", "1", "null", "true"}) {
    expect_bad(parse_completion_request(body), std::nullopt, "must be a JSON object", body);
    expect_bad(parse_chat_request(body), std::nullopt, "must be a JSON object", body);
    expect_bad(parse_tokenize_request(body), std::nullopt, "must be a JSON object", body);
    expect_bad(parse_detokenize_request(body), std::nullopt, "must be a JSON object", body);
  }
}

TEST(RequestBody, DeepNestingIsRejectedBeforeParsing) {
  const int depth = kMaxJsonDepth + 10;
  const std::string deep =
      R"({"prompt":"hi","extra":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
  expect_bad(parse_completion_request(deep), std::nullopt, "deeper than", "deep");
  // Brackets inside strings (even after escaped quotes) do not count.
  const std::string in_string = R"({"prompt":"\")" + std::string(depth, '[') + R"("})";
  EXPECT_TRUE(parse_completion_request(in_string).ok());
  const std::string fine =
      R"({"prompt":"hi","extra":)" + std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_TRUE(parse_completion_request(fine).ok());
}

TEST(RequestBody, UnknownFieldsAreIgnored) {
  const auto r = parse_completion_request(
      R"({"prompt":"hi","frobnicate":{"a":[1,2]},"metadata":{"k":"v"},"store":true,)"
      R"("request_id":"abc","cache_salt":"s","service_tier":"auto"})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto c = parse_chat_request(chat_body(R"("parallel_tool_calls":false,"reasoning_effort":)"
                                              R"("low","documents":[],"modalities":["text"])"));
  ASSERT_TRUE(c.ok()) << c.error().message;
}

TEST(RequestBody, NonAsciiTextSurvives) {
  const auto r = parse_completion_request("{\"prompt\":\"caf\xC3\xA9 \\u00e9 \xF0\x9F\x98\x80\"}");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(std::get<std::string>(r->prompts[0]), "caf\xC3\xA9 \xC3\xA9 \xF0\x9F\x98\x80");
}

// --- Completion requests ----------------------------------------------------------

TEST(CompletionRequest, Defaults) {
  const auto r = parse_completion_request(R"({"prompt":"Hello"})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->model, "");
  ASSERT_EQ(r->prompts.size(), 1u);
  EXPECT_EQ(std::get<std::string>(r->prompts[0]), "Hello");
  EXPECT_TRUE(r->add_special_tokens);
  const GenerationParams& p = r->params;
  EXPECT_EQ(p.max_tokens, 16);  // OpenAI's completions default
  EXPECT_EQ(p.temperature, 1.0f);
  EXPECT_EQ(p.top_p, 1.0f);
  EXPECT_EQ(p.top_k, 0);
  EXPECT_EQ(p.min_p, 0.0f);
  EXPECT_EQ(p.seed, std::nullopt);
  EXPECT_TRUE(p.stop.empty());
  EXPECT_TRUE(p.stop_token_ids.empty());
  EXPECT_FALSE(p.ignore_eos);
  EXPECT_EQ(p.min_tokens, 0);
  EXPECT_EQ(p.n, 1);
  EXPECT_EQ(p.priority, 0);
  EXPECT_FALSE(p.stream);
  EXPECT_FALSE(p.include_usage);
  EXPECT_FALSE(p.return_token_ids);
  EXPECT_TRUE(p.skip_special_tokens);
  EXPECT_FALSE(p.include_stop_str_in_output);
  EXPECT_EQ(p.user, "");
}

TEST(CompletionRequest, ExplicitNullMaxTokensMeansNoLimit) {
  EXPECT_EQ(completion_params(R"("max_tokens":null)").max_tokens, std::nullopt);
  EXPECT_EQ(completion_params(R"("max_tokens":100)").max_tokens, 100);
}

TEST(CompletionRequest, EveryFieldParsed) {
  const auto r = parse_completion_request(R"({
    "model": "tiny", "prompt": "Once", "max_tokens": 64, "temperature": 0.7, "top_p": 0.9,
    "top_k": 40, "min_p": 0.05, "seed": 1234, "stop": ["\n\n", "END"],
    "stop_token_ids": [2, 32000], "ignore_eos": true, "min_tokens": 8, "n": 1, "priority": -3,
    "stream": true, "stream_options": {"include_usage": true}, "return_token_ids": true,
    "skip_special_tokens": false, "include_stop_str_in_output": true, "user": "u-1",
    "add_special_tokens": false, "echo": false, "logprobs": null, "suffix": null,
    "best_of": 1, "presence_penalty": 0, "frequency_penalty": 0.0, "repetition_penalty": 1,
    "logit_bias": {}, "response_format": {"type": "text"}, "use_beam_search": false})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->model, "tiny");
  EXPECT_FALSE(r->add_special_tokens);
  const GenerationParams& p = r->params;
  EXPECT_EQ(p.max_tokens, 64);
  EXPECT_FLOAT_EQ(p.temperature, 0.7f);
  EXPECT_FLOAT_EQ(p.top_p, 0.9f);
  EXPECT_EQ(p.top_k, 40);
  EXPECT_FLOAT_EQ(p.min_p, 0.05f);
  EXPECT_EQ(p.seed, 1234);
  EXPECT_EQ(p.stop, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_EQ(p.stop_token_ids, (Ids{2, 32000}));
  EXPECT_TRUE(p.ignore_eos);
  EXPECT_EQ(p.min_tokens, 8);
  EXPECT_EQ(p.priority, -3);
  EXPECT_TRUE(p.stream);
  EXPECT_TRUE(p.include_usage);
  EXPECT_TRUE(p.return_token_ids);
  EXPECT_FALSE(p.skip_special_tokens);
  EXPECT_TRUE(p.include_stop_str_in_output);
  EXPECT_EQ(p.user, "u-1");

  const SamplingParams s = p.to_sampling_params();
  EXPECT_FLOAT_EQ(s.temperature, 0.7f);
  EXPECT_FLOAT_EQ(s.top_p, 0.9f);
  EXPECT_EQ(s.top_k, 40);
  EXPECT_FLOAT_EQ(s.min_p, 0.05f);
  EXPECT_EQ(s.seed, 1234);
  EXPECT_EQ(s.max_tokens, 64);
  EXPECT_EQ(s.min_tokens, 8);
  EXPECT_EQ(s.stop_token_ids, (Ids{2, 32000}));
  EXPECT_TRUE(s.ignore_eos);
  EXPECT_EQ(s.n, 1);
}

TEST(CompletionRequest, NullFieldsTakeDefaults) {
  const GenerationParams p = completion_params(
      R"("model":null,"temperature":null,"top_p":null,"top_k":null,"min_p":null,"seed":null,)"
      R"("stop":null,"stop_token_ids":null,"ignore_eos":null,"min_tokens":null,"n":null,)"
      R"("priority":null,"stream":null,"stream_options":null,"return_token_ids":null,)"
      R"("skip_special_tokens":null,"include_stop_str_in_output":null,"user":null)");
  EXPECT_EQ(p.temperature, 1.0f);
  EXPECT_EQ(p.top_p, 1.0f);
  EXPECT_EQ(p.n, 1);
  EXPECT_TRUE(p.skip_special_tokens);
  EXPECT_TRUE(p.stop.empty());
  EXPECT_EQ(p.max_tokens, 16);
}

TEST(CompletionRequest, PromptForms) {
  auto prompts = [](const std::string& prompt) {
    const std::string body = R"({"prompt":)" + prompt + "}";
    auto r = parse_completion_request(body);
    EXPECT_TRUE(r.ok()) << body << ": " << (r.ok() ? "" : r.error().message);
    return r.ok() ? r->prompts : std::vector<PromptInput>{};
  };
  EXPECT_EQ(prompts(R"("a b")"), (std::vector<PromptInput>{std::string("a b")}));
  EXPECT_EQ(prompts(R"(["a","b"])"),
            (std::vector<PromptInput>{std::string("a"), std::string("b")}));
  EXPECT_EQ(prompts("[1,2,3]"), (std::vector<PromptInput>{Ids{1, 2, 3}}));
  EXPECT_EQ(prompts("[[1,2],[3]]"), (std::vector<PromptInput>{Ids{1, 2}, Ids{3}}));
  EXPECT_EQ(prompts("[0, 2147483647]"), (std::vector<PromptInput>{Ids{0, 2147483647}}));
  EXPECT_EQ(prompts("[5.0]"), (std::vector<PromptInput>{Ids{5}}));  // Python's json.dumps(5.0)
}

TEST(CompletionRequest, BadPrompts) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({})", "prompt is required"},
      {R"({"prompt":null})", "prompt is required"},
      {R"({"prompt":""})", "prompt cannot be empty"},
      {R"({"prompt":[]})", "prompt cannot be empty"},
      {R"({"prompt":["a",""]})", "prompt cannot be empty"},
      {R"({"prompt":[[1],[]]})", "prompt cannot be empty"},
      {R"({"prompt":5})", "prompt must be a string, a list of strings"},
      {R"({"prompt":{"text":"a"}})", "prompt must be a string, a list of strings"},
      {R"({"prompt":true})", "prompt must be a string, a list of strings"},
      {R"({"prompt":["a",1]})", "prompt must be a string, a list of strings"},
      {R"({"prompt":[[1],"a"]})", "prompt must be a string, a list of strings"},
      {R"({"prompt":[null]})", "prompt must be a string, a list of strings"},
      {R"({"prompt":[{}]})", "prompt must be a string, a list of strings"},
      {R"({"prompt":[1,"a"]})", "token ids"},
      {R"({"prompt":[-1]})", "token ids"},
      {R"({"prompt":[1.5]})", "token ids"},
      {R"({"prompt":[2147483648]})", "token ids"},
      {R"({"prompt":[[1,[2]]]})", "token ids"},
  };
  for (const auto& [body, what] : cases) {
    expect_bad(parse_completion_request(body), "prompt", what, body);
  }
}

TEST(CompletionRequest, UnsupportedFields) {
  expect_bad_completion({
      {R"("logprobs":0)", "logprobs", "logprobs is not supported"},
      {R"("logprobs":5)", "logprobs", "logprobs is not supported"},
      {R"("logprobs":"x")", "logprobs", "logprobs must be an integer"},
      {R"("echo":true)", "echo", "echo is not supported"},
      {R"("echo":1)", "echo", "echo must be a boolean"},
      {R"("suffix":"end")", "suffix", "suffix is not supported"},
      {R"("suffix":1)", "suffix", "suffix must be a string"},
      {R"("prompt_embeds":"AAAA")", "prompt_embeds", "prompt_embeds is not supported"},
      {R"("add_special_tokens":"no")", "add_special_tokens", "must be a boolean"},
  });
  EXPECT_TRUE(parse_completion_request(completion_body(R"("suffix":"","echo":null)")).ok());
}

// --- Sampling fields (both endpoints) ---------------------------------------------

TEST(GenerationParams, GoodValues) {
  for (auto parse : {completion_params, chat_params}) {
    EXPECT_EQ(parse(R"("temperature":0)").temperature, 0.0f);
    EXPECT_EQ(parse(R"("temperature":2)").temperature, 2.0f);
    EXPECT_EQ(parse(R"("temperature":5.5)").temperature, 5.5f);  // vLLM has no upper bound
    EXPECT_EQ(parse(R"("top_p":1)").top_p, 1.0f);
    EXPECT_FLOAT_EQ(parse(R"("top_p":1e-9)").top_p, 1e-9f);
    EXPECT_EQ(parse(R"("top_k":-1)").top_k, 0);
    EXPECT_EQ(parse(R"("top_k":0)").top_k, 0);
    EXPECT_EQ(parse(R"("top_k":1)").top_k, 1);
    EXPECT_EQ(parse(R"("top_k":40.0)").top_k, 40);
    EXPECT_EQ(parse(R"("min_p":0)").min_p, 0.0f);
    EXPECT_EQ(parse(R"("min_p":1)").min_p, 1.0f);
    EXPECT_EQ(parse(R"("max_tokens":1)").max_tokens, 1);
    EXPECT_EQ(parse(R"("max_tokens":2147483647)").max_tokens, 2147483647);
    EXPECT_EQ(parse(R"("max_tokens":32.0)").max_tokens, 32);
    EXPECT_EQ(parse(R"("min_tokens":0)").min_tokens, 0);
    EXPECT_EQ(parse(R"("min_tokens":5,"max_tokens":5)").min_tokens, 5);
    EXPECT_EQ(parse(R"("seed":-1)").seed, -1);
    EXPECT_EQ(parse(R"("seed":0)").seed, 0);
    EXPECT_EQ(parse(R"("seed":9223372036854775807)").seed, std::numeric_limits<int64_t>::max());
    EXPECT_EQ(parse(R"("seed":-9223372036854775808)").seed, std::numeric_limits<int64_t>::min());
    EXPECT_EQ(parse(R"("seed":7.0)").seed, 7);
    EXPECT_EQ(parse(R"("stop":"x")").stop, (std::vector<std::string>{"x"}));
    EXPECT_EQ(parse(R"("stop":[])").stop, (std::vector<std::string>{}));
    EXPECT_EQ(parse(R"("stop":["a","b","c","d","e",""])").stop,
              (std::vector<std::string>{"a", "b", "c", "d", "e", ""}));  // no cap, as vLLM
    EXPECT_EQ(parse(R"("stop_token_ids":[0,7])").stop_token_ids, (Ids{0, 7}));
    EXPECT_EQ(parse(R"("stop_token_ids":[])").stop_token_ids, Ids{});
    EXPECT_EQ(parse(R"("priority":-5)").priority, -5);
    EXPECT_EQ(parse(R"("priority":10)").priority, 10);
    EXPECT_EQ(parse(R"("n":1)").n, 1);
    EXPECT_TRUE(parse(R"("ignore_eos":true)").ignore_eos);
    EXPECT_TRUE(parse(R"("return_token_ids":true)").return_token_ids);
    EXPECT_FALSE(parse(R"("skip_special_tokens":false)").skip_special_tokens);
    EXPECT_TRUE(parse(R"("include_stop_str_in_output":true)").include_stop_str_in_output);
    EXPECT_EQ(parse(R"("user":"alice")").user, "alice");
  }
}

TEST(GenerationParams, WrongTypes) {
  expect_bad_both({
      {R"("model":1)", "model", "model must be a string"},
      {R"("temperature":"0.5")", "temperature", "temperature must be a number"},
      {R"("temperature":true)", "temperature", "temperature must be a number"},
      {R"("temperature":[1])", "temperature", "temperature must be a number"},
      {R"("top_p":"1")", "top_p", "top_p must be a number"},
      {R"("min_p":{})", "min_p", "min_p must be a number"},
      {R"("top_k":"5")", "top_k", "top_k must be an integer"},
      {R"("top_k":1.5)", "top_k", "top_k must be an integer"},
      {R"("max_tokens":"10")", "max_tokens", "max_tokens must be an integer"},
      {R"("max_tokens":10.5)", "max_tokens", "max_tokens must be an integer"},
      {R"("min_tokens":true)", "min_tokens", "min_tokens must be an integer"},
      {R"("seed":"1")", "seed", "seed must be an integer"},
      {R"("seed":1.5)", "seed", "seed must be an integer"},
      {R"("seed":true)", "seed", "seed must be an integer"},
      {R"("priority":"high")", "priority", "priority must be an integer"},
      {R"("priority":0.5)", "priority", "priority must be an integer"},
      {R"("n":"1")", "n", "n must be an integer"},
      {R"("stop":5)", "stop", "stop must be a string or a list of strings"},
      {R"("stop":["a",1])", "stop", "stop must be a string or a list of strings"},
      {R"("stop":{"a":1})", "stop", "stop must be a string or a list of strings"},
      {R"("stop_token_ids":1)", "stop_token_ids", "stop_token_ids must be a list of token ids"},
      {R"("stop_token_ids":["1"])", "stop_token_ids", "stop_token_ids must contain only token"},
      {R"("stop_token_ids":[1.5])", "stop_token_ids", "stop_token_ids must contain only token"},
      {R"("ignore_eos":1)", "ignore_eos", "ignore_eos must be a boolean"},
      {R"("stream":"true")", "stream", "stream must be a boolean"},
      {R"("return_token_ids":0)", "return_token_ids", "return_token_ids must be a boolean"},
      {R"("skip_special_tokens":"no")", "skip_special_tokens", "must be a boolean"},
      {R"("include_stop_str_in_output":1)", "include_stop_str_in_output", "must be a boolean"},
      {R"("user":42)", "user", "user must be a string"},
  });
}

TEST(GenerationParams, OutOfRange) {
  expect_bad_both({
      {R"("temperature":-0.1)", "temperature", "temperature must be non-negative, got -0.1"},
      {R"("temperature":1e39)", "temperature", "temperature is out of range"},
      {R"("top_p":0)", "top_p", "top_p must be in (0, 1], got 0"},
      {R"("top_p":-0.5)", "top_p", "top_p must be in (0, 1]"},
      {R"("top_p":1.01)", "top_p", "top_p must be in (0, 1], got 1.01"},
      {R"("top_k":-2)", "top_k", "top_k must be -1 or 0 (disabled), or at least 1, got -2"},
      {R"("top_k":2147483648)", "top_k", "top_k must be between"},
      {R"("min_p":-0.01)", "min_p", "min_p must be in [0, 1]"},
      {R"("min_p":1.5)", "min_p", "min_p must be in [0, 1], got 1.5"},
      {R"("max_tokens":0)", "max_tokens", "max_tokens must be at least 1, got 0"},
      {R"("max_tokens":-5)", "max_tokens", "max_tokens must be at least 1"},
      {R"("max_tokens":2147483648)", "max_tokens", "max_tokens must be between"},
      {R"("min_tokens":-1)", "min_tokens", "min_tokens must be at least 0"},
      {R"("min_tokens":6,"max_tokens":5)", "min_tokens",
       "min_tokens must be less than or equal to max_tokens=5, got 6"},
      {R"("seed":9223372036854775808)", "seed", "seed must be between"},
      {R"("seed":1e19)", "seed", "seed must be between"},
      {R"("seed":-1e19)", "seed", "seed must be between"},
      {R"("priority":3000000000)", "priority", "priority must be between"},
      {R"("stop_token_ids":[-1])", "stop_token_ids", "stop_token_ids must contain only token"},
      {R"("stop_token_ids":[2147483648])", "stop_token_ids", "must contain only token ids"},
      {R"("n":2)", "n", "n must be 1"},
      {R"("n":0)", "n", "n must be 1"},
  });
}

TEST(GenerationParams, MinTokensAgainstDefaultMaxTokens) {
  // Completions default to max_tokens 16, so min_tokens above it is an error
  // there (as vLLM); chat has no default limit.
  expect_bad_completion({{R"("min_tokens":17)", "min_tokens", "max_tokens=16"}});
  EXPECT_EQ(chat_params(R"("min_tokens":17)").min_tokens, 17);
  EXPECT_EQ(completion_params(R"("min_tokens":17,"max_tokens":null)").min_tokens, 17);
}

TEST(GenerationParams, StreamOptions) {
  for (auto parse : {completion_params, chat_params}) {
    EXPECT_FALSE(parse(R"("stream":true)").include_usage);
    EXPECT_TRUE(parse(R"("stream":true,"stream_options":{"include_usage":true})").include_usage);
    EXPECT_FALSE(parse(R"("stream":true,"stream_options":{"include_usage":false})").include_usage);
    // vLLM's StreamOptions defaults include_usage to true.
    EXPECT_TRUE(parse(R"("stream":true,"stream_options":{})").include_usage);
    EXPECT_TRUE(parse(R"("stream":true,"stream_options":{"include_usage":null})").include_usage);
    EXPECT_FALSE(parse(R"("stream":true,"stream_options":{"continuous_usage_stats":false,)"
                       R"("include_usage":false})")
                     .include_usage);
    // An empty or null stream_options without stream is accepted, as vLLM.
    EXPECT_FALSE(parse(R"("stream_options":{})").include_usage);
    EXPECT_FALSE(parse(R"("stream":false,"stream_options":null)").include_usage);
  }
  expect_bad_both({
      {R"("stream_options":{"include_usage":true})", "stream_options",
       "stream_options can only be defined when stream is true"},
      {R"("stream":false,"stream_options":{"include_usage":false})", "stream_options",
       "only be defined when stream is true"},
      {R"("stream":true,"stream_options":true)", "stream_options", "must be an object"},
      {R"("stream":true,"stream_options":{"include_usage":"yes"})", "stream_options",
       "stream_options.include_usage must be a boolean"},
      {R"("stream":true,"stream_options":{"continuous_usage_stats":true})", "stream_options",
       "continuous_usage_stats is not supported"},
  });
}

TEST(GenerationParams, UnsupportedFeatures) {
  expect_bad_both({
      {R"("logit_bias":{"50256":-100})", "logit_bias", "logit_bias is not supported"},
      {R"("logit_bias":[1])", "logit_bias", "logit_bias must be an object"},
      {R"("best_of":2)", "best_of", "best_of other than 1 is not supported"},
      {R"("best_of":0)", "best_of", "best_of other than 1"},
      {R"("best_of":"2")", "best_of", "best_of must be an integer"},
      {R"("presence_penalty":0.5)", "presence_penalty", "presence_penalty is not supported"},
      {R"("presence_penalty":3)", "presence_penalty", "presence_penalty must be in [-2, 2], got 3"},
      {R"("presence_penalty":"0")", "presence_penalty", "presence_penalty must be a number"},
      {R"("frequency_penalty":-1)", "frequency_penalty", "frequency_penalty is not supported"},
      {R"("frequency_penalty":-2.5)", "frequency_penalty", "must be in [-2, 2]"},
      {R"("repetition_penalty":1.2)", "repetition_penalty", "repetition_penalty is not supported"},
      {R"("repetition_penalty":0)", "repetition_penalty", "must be greater than zero"},
      {R"("use_beam_search":true)", "use_beam_search", "beam search is not supported"},
      {R"("prompt_logprobs":0)", "prompt_logprobs", "prompt_logprobs is not supported"},
      {R"("truncate_prompt_tokens":10)", "truncate_prompt_tokens", "is not supported"},
      {R"("allowed_token_ids":[1,2])", "allowed_token_ids", "is not supported"},
      {R"("bad_words":["x"])", "bad_words", "bad_words is not supported"},
      {R"("bad_words":"x")", "bad_words", "bad_words must be a list"},
      {R"("logits_processors":["a.b"])", "logits_processors", "is not supported"},
      {R"("guided_json":{"type":"object"})", "guided_json", "guided decoding is not supported"},
      {R"("guided_regex":"a+")", "guided_regex", "guided decoding is not supported"},
      {R"("guided_choice":["a"])", "guided_choice", "guided decoding is not supported"},
      {R"("guided_grammar":"g")", "guided_grammar", "guided decoding is not supported"},
      {R"("structured_outputs":{"json":{}})", "structured_outputs", "guided decoding"},
      {R"("response_format":{"type":"json_object"})", "response_format",
       "response_format of type 'json_object' is not supported"},
      {R"("response_format":{"type":"json_schema","json_schema":{"name":"x"}})", "response_format",
       "json_schema"},
      {R"("response_format":"text")", "response_format", "response_format must be an object"},
      {R"("response_format":{})", "response_format", "response_format.type must be a string"},
  });
  // Defaults, sent explicitly, are fine.
  for (auto parse : {completion_params, chat_params}) {
    parse(R"("logit_bias":{},"best_of":1,"presence_penalty":0,"frequency_penalty":0,)"
          R"("repetition_penalty":1.0,"use_beam_search":false,"prompt_logprobs":null,)"
          R"("bad_words":[],"guided_json":null,"response_format":{"type":"text"},)"
          R"("logit_bias":null,"best_of":null,"response_format":null)");
  }
}

TEST(GenerationParams, ToSamplingParamsDefaults) {
  const SamplingParams s = GenerationParams{}.to_sampling_params();
  EXPECT_EQ(s, SamplingParams{});
  GenerationParams p;
  p.top_k = 5;
  p.seed = -7;
  p.max_tokens = std::nullopt;
  const SamplingParams t = p.to_sampling_params();
  EXPECT_EQ(t.top_k, 5);
  EXPECT_EQ(t.seed, -7);
  EXPECT_EQ(t.max_tokens, std::nullopt);
}

// --- Chat requests ---------------------------------------------------------------

TEST(ChatRequest, Defaults) {
  const auto r = parse_chat_request(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->model, "m");
  EXPECT_EQ(r->messages, Json::parse(R"([{"role":"user","content":"hi"}])"));
  EXPECT_EQ(r->params.max_tokens, std::nullopt);  // chat: up to max_model_len
  EXPECT_TRUE(r->add_generation_prompt);
  EXPECT_FALSE(r->continue_final_message);
  EXPECT_EQ(r->chat_template_kwargs, Json::object());
  EXPECT_FALSE(r->add_special_tokens);
  EXPECT_EQ(r->params.temperature, 1.0f);
}

TEST(ChatRequest, MaxCompletionTokensWins) {
  EXPECT_EQ(chat_params(R"("max_tokens":10)").max_tokens, 10);
  EXPECT_EQ(chat_params(R"("max_completion_tokens":20)").max_tokens, 20);
  EXPECT_EQ(chat_params(R"("max_tokens":10,"max_completion_tokens":20)").max_tokens, 20);
  EXPECT_EQ(chat_params(R"("max_tokens":30,"max_completion_tokens":20)").max_tokens, 20);
  EXPECT_EQ(chat_params(R"("max_tokens":10,"max_completion_tokens":null)").max_tokens, 10);
  // min_tokens is checked against the limit that applies.
  EXPECT_EQ(chat_params(R"("max_tokens":5,"max_completion_tokens":20,"min_tokens":10)").min_tokens,
            10);
  expect_bad_chat({
      {R"("max_completion_tokens":0)", "max_completion_tokens",
       "max_completion_tokens must be at least 1"},
      {R"("max_completion_tokens":"5")", "max_completion_tokens", "must be an integer"},
      {R"("max_tokens":0,"max_completion_tokens":5)", "max_tokens", "at least 1"},
      {R"("max_tokens":50,"max_completion_tokens":5,"min_tokens":10)", "min_tokens",
       "max_tokens=5"},
  });
  // Completions have no max_completion_tokens: it is an unknown field there.
  EXPECT_EQ(completion_params(R"("max_completion_tokens":20)").max_tokens, 16);
}

TEST(ChatRequest, ContentPartsAreJoined) {
  const auto r = parse_chat_request(R"({"messages":[
      {"role":"system","content":[{"type":"text","text":"Be brief."}]},
      {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"},
                                {"text":"c"}]},
      {"role":"assistant","content":[]}]})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->messages[0]["content"], "Be brief.");
  EXPECT_EQ(r->messages[1]["content"], "a\nb\nc");
  EXPECT_EQ(r->messages[2]["content"], "");
}

TEST(ChatRequest, AssistantContentMayBeNullOrMissing) {
  const auto r = parse_chat_request(R"({"messages":[
      {"role":"user","content":"call f"},
      {"role":"assistant","content":null,"tool_calls":[{"id":"1","type":"function",
        "function":{"name":"f","arguments":"{}"}}]},
      {"role":"tool","tool_call_id":"1","content":"42"},
      {"role":"assistant"}]})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->messages[1]["content"], "");
  EXPECT_EQ(r->messages[1]["tool_calls"][0]["function"]["name"], "f");
  EXPECT_EQ(r->messages[2]["tool_call_id"], "1");
  EXPECT_EQ(r->messages[3]["content"], "");
}

TEST(ChatRequest, OtherMessageKeysAreKeptInOrder) {
  const auto r = parse_chat_request(
      R"({"messages":[{"name":"bob","role":"user","content":[{"type":"text","text":"x"}],)"
      R"("z":1,"a":{"k":[1]}}]})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Json& m = r->messages[0];
  std::vector<std::string> keys;
  for (const auto& [k, v] : m.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"name", "role", "content", "z", "a"}));
  EXPECT_EQ(m["content"], "x");
  EXPECT_EQ(m["a"]["k"][0], 1);
  // Any role string is passed on; the chat template decides what it means.
  EXPECT_TRUE(parse_chat_request(R"({"messages":[{"role":"developer","content":"x"}]})").ok());
}

TEST(ChatRequest, BadMessages) {
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {R"({})", "messages", "messages is required"},
      {R"({"messages":null})", "messages", "messages is required"},
      {R"({"messages":[]})", "messages", "messages must be a non-empty list"},
      {R"({"messages":{"role":"user"}})", "messages", "messages must be a non-empty list"},
      {R"({"messages":"hi"})", "messages", "messages must be a non-empty list"},
      {R"({"messages":["hi"]})", "messages", "messages[0] must be an object"},
      {R"({"messages":[{"role":"user","content":"a"},5]})", "messages",
       "messages[1] must be an object"},
      {R"({"messages":[{"content":"a"}]})", "messages[0].role", "messages[0].role is required"},
      {R"({"messages":[{"role":null,"content":"a"}]})", "messages[0].role", "role is required"},
      {R"({"messages":[{"role":1,"content":"a"}]})", "messages[0].role",
       "messages[0].role must be a string"},
      {R"({"messages":[{"role":"user"}]})", "messages[0].content",
       "messages[0].content is required"},
      {R"({"messages":[{"role":"user","content":null}]})", "messages[0].content",
       "content is required"},
      {R"({"messages":[{"role":"user","content":5}]})", "messages[0].content",
       "messages[0].content must be a string or a list of content parts"},
      {R"({"messages":[{"role":"user","content":{"type":"text","text":"a"}}]})",
       "messages[0].content", "must be a string or a list of content parts"},
      {R"({"messages":[{"role":"user","content":["a"]}]})", "messages[0].content",
       "messages[0].content[0] must be an object"},
      {R"({"messages":[{"role":"user","content":[{"type":"text","text":"a"},)"
       R"({"type":"image_url","image_url":{"url":"http://x"}}]}]})",
       "messages[0].content",
       "messages[0].content[1]: content part type 'image_url' is not supported (only text)"},
      {R"({"messages":[{"role":"user","content":[{"type":"input_audio"}]}]})",
       "messages[0].content", "'input_audio' is not supported"},
      {R"({"messages":[{"role":"user","content":[{"type":"text"}]}]})", "messages[0].content",
       "messages[0].content[0].text must be a string"},
      {R"({"messages":[{"role":"user","content":[{"type":"text","text":5}]}]})",
       "messages[0].content", "text must be a string"},
      {R"({"messages":[{"role":"user","content":[{"type":1,"text":"a"}]}]})", "messages[0].content",
       "messages[0].content[0].type must be a string"},
      {R"({"messages":[{"role":"user","content":[{}]}]})", "messages[0].content",
       "messages[0].content[0].text must be a string"},
      {R"({"messages":[{"role":"user","content":"a"},{"role":"tool"}]})", "messages[1].content",
       "messages[1].content is required"},
  };
  for (const auto& [body, param, what] : cases) expect_bad_chat_body(body, param, what);
}

TEST(ChatRequest, UnsupportedFeatures) {
  expect_bad_chat({
      {R"("logprobs":true)", "logprobs", "logprobs is not supported"},
      {R"("logprobs":1)", "logprobs", "logprobs must be a boolean"},
      {R"("top_logprobs":2)", "top_logprobs", "top_logprobs is not supported"},
      {R"("top_logprobs":-1)", "top_logprobs", "top_logprobs must be non-negative"},
      {R"("echo":true)", "echo", "echo is not supported"},
      {R"("tools":[{"type":"function","function":{"name":"f"}}])", "tools",
       "tool calling is not supported"},
      {R"("tools":{})", "tools", "tools must be a list"},
      {R"("tool_choice":"required")", "tool_choice", "tool calling is not supported"},
      {R"("tool_choice":{"type":"function","function":{"name":"f"}})", "tool_choice",
       "tool calling is not supported"},
      {R"("tools":[],"tool_choice":{"type":"function","function":{"name":"f"}})", "tool_choice",
       "tool calling"},
      {R"("functions":[{"name":"f"}])", "functions", "function calling is not supported"},
      {R"("function_call":{"name":"f"})", "function_call", "function calling is not supported"},
      {R"("chat_template":"{{ messages }}")", "chat_template",
       "a chat template in the request is not supported"},
      {R"("add_generation_prompt":"yes")", "add_generation_prompt", "must be a boolean"},
      {R"("continue_final_message":1)", "continue_final_message", "must be a boolean"},
      {R"("add_generation_prompt":true,"continue_final_message":true)", "continue_final_message",
       "cannot set both continue_final_message and add_generation_prompt to true"},
      {R"("chat_template_kwargs":[1])", "chat_template_kwargs",
       "chat_template_kwargs must be an object"},
      {R"("add_special_tokens":1)", "add_special_tokens", "must be a boolean"},
  });
  // The defaults, sent explicitly (some clients always send these keys).
  for (const std::string fields :
       {R"("logprobs":false,"top_logprobs":0,"echo":false)", R"("tools":[])", R"("tools":null)",
        R"("tool_choice":"none")", R"("tool_choice":"auto")", R"("tool_choice":null)",
        R"("tools":[],"tool_choice":"required")", R"("functions":[],"function_call":"none")",
        R"("function_call":"auto","chat_template":null)"}) {
    const auto r = parse_chat_request(chat_body(fields));
    EXPECT_TRUE(r.ok()) << fields << ": " << r.error().message;
  }
}

TEST(ChatRequest, GenerationPromptFlagsAndKwargs) {
  auto parse = [](const std::string& fields) {
    auto r = parse_chat_request(chat_body(fields));
    EXPECT_TRUE(r.ok()) << fields << ": " << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(r).value() : ChatCompletionRequest{};
  };
  EXPECT_FALSE(parse(R"("add_generation_prompt":false)").add_generation_prompt);
  const auto cont = parse(R"("continue_final_message":true)");
  EXPECT_TRUE(cont.continue_final_message);
  EXPECT_FALSE(cont.add_generation_prompt);
  const auto both = parse(R"("continue_final_message":true,"add_generation_prompt":false)");
  EXPECT_TRUE(both.continue_final_message);
  EXPECT_FALSE(both.add_generation_prompt);
  EXPECT_TRUE(parse(R"("continue_final_message":false)").add_generation_prompt);

  const auto kw = parse(R"("chat_template_kwargs":{"enable_thinking":false,"b":[1,{"c":null}]})");
  EXPECT_EQ(kw.chat_template_kwargs,
            Json::parse(R"({"enable_thinking":false,"b":[1,{"c":null}]})"));
  EXPECT_EQ(parse(R"("chat_template_kwargs":null)").chat_template_kwargs, Json::object());
  EXPECT_TRUE(parse(R"("add_special_tokens":true)").add_special_tokens);
}

// --- Tokenize / detokenize ----------------------------------------------------------

TEST(TokenizeRequest, PromptForm) {
  const auto r = parse_tokenize_request(R"({"model":"m","prompt":"hello"})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->model, "m");
  EXPECT_EQ(r->prompt, "hello");
  EXPECT_FALSE(r->messages.has_value());
  EXPECT_TRUE(r->add_special_tokens);

  const auto e = parse_tokenize_request(R"({"prompt":"","add_special_tokens":false})");
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->prompt, "");  // empty is fine here: it tokenizes to [] (or just BOS)
  EXPECT_FALSE(e->add_special_tokens);
}

TEST(TokenizeRequest, MessagesForm) {
  const auto r =
      parse_tokenize_request(R"({"messages":[{"role":"user","content":[{"type":"text","text":"a"},)"
                             R"({"type":"text","text":"b"}]}],"chat_template_kwargs":{"x":1}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->prompt.has_value());
  ASSERT_TRUE(r->messages.has_value());
  EXPECT_EQ(*r->messages, Json::parse(R"([{"role":"user","content":"a\nb"}])"));
  EXPECT_FALSE(r->add_special_tokens);  // vLLM's default for messages
  EXPECT_TRUE(r->add_generation_prompt);
  EXPECT_FALSE(r->continue_final_message);
  EXPECT_EQ(r->chat_template_kwargs, Json::parse(R"({"x":1})"));

  const auto f = parse_tokenize_request(
      R"({"messages":[{"role":"assistant","content":"Sure"}],"continue_final_message":true,)"
      R"("add_special_tokens":true})");
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_TRUE(f->continue_final_message);
  EXPECT_FALSE(f->add_generation_prompt);
  EXPECT_TRUE(f->add_special_tokens);
}

TEST(TokenizeRequest, Bad) {
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {R"({})", "prompt", "prompt or messages is required"},
      {R"({"prompt":null,"messages":null})", "prompt", "prompt or messages is required"},
      {R"({"prompt":"a","messages":[{"role":"user","content":"a"}]})", "messages",
       "either prompt or messages, not both"},
      {R"({"prompt":5})", "prompt", "prompt must be a string"},
      {R"({"prompt":[1,2]})", "prompt", "prompt must be a string"},
      {R"({"prompt":"a","add_special_tokens":"x"})", "add_special_tokens", "must be a boolean"},
      {R"({"prompt":"a","model":5})", "model", "model must be a string"},
      {R"({"prompt":"a","return_token_strs":true})", "return_token_strs", "is not supported"},
      {R"({"messages":[]})", "messages", "non-empty list"},
      {R"({"messages":[{"role":"user","content":[{"type":"image_url"}]}]})", "messages[0].content",
       "not supported"},
      {R"({"messages":[{"role":"user","content":"a"}],"add_generation_prompt":true,)"
       R"("continue_final_message":true})",
       "continue_final_message", "cannot set both"},
      {R"({"messages":[{"role":"user","content":"a"}],"chat_template_kwargs":1})",
       "chat_template_kwargs", "must be an object"},
      {R"({"messages":[{"role":"user","content":"a"}],"chat_template":"x"})", "chat_template",
       "not supported"},
  };
  for (const auto& [body, param, what] : cases) {
    expect_bad(parse_tokenize_request(body), param, what, body);
  }
}

TEST(DetokenizeRequest, GoodAndBad) {
  const auto r = parse_detokenize_request(R"({"model":"m","tokens":[1,2,2147483647,4.0]})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->model, "m");
  EXPECT_EQ(r->tokens, (Ids{1, 2, 2147483647, 4}));
  const auto e = parse_detokenize_request(R"({"tokens":[]})");
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->tokens.empty());

  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({})", "tokens is required"},
      {R"({"tokens":null})", "tokens is required"},
      {R"({"tokens":"1 2"})", "tokens must be a list of token ids"},
      {R"({"tokens":[1,"2"]})", "tokens must contain only token ids"},
      {R"({"tokens":[-1]})", "tokens must contain only token ids"},
      {R"({"tokens":[1.5]})", "tokens must contain only token ids"},
      {R"({"tokens":[2147483648]})", "tokens must contain only token ids"},
      {R"({"tokens":[[1]]})", "tokens must contain only token ids"},
  };
  for (const auto& [body, what] : cases) {
    expect_bad(parse_detokenize_request(body), "tokens", what, body);
  }
}

// --- Responses ---------------------------------------------------------------------

ResponseMeta meta(bool return_token_ids = false) {
  return {"cmpl-abc", 1700000000, "tiny", return_token_ids};
}

void expect_envelope(const Json& j, const char* object) {
  EXPECT_EQ(j.at("id"), "cmpl-abc");
  EXPECT_EQ(j.at("object"), object);
  EXPECT_EQ(j.at("created"), 1700000000);
  EXPECT_EQ(j.at("model"), "tiny");
}

void expect_usage(const Json& u, int p, int c) {
  EXPECT_EQ(u.size(), 3u);
  EXPECT_EQ(u.at("prompt_tokens"), p);
  EXPECT_EQ(u.at("completion_tokens"), c);
  EXPECT_EQ(u.at("total_tokens"), p + c);
}

TEST(CompletionResponse, Shape) {
  std::vector<ChoiceResult> choices(3);
  choices[0] = {0, "Hello", "stop", std::string("\n\n"), {1, 2}, {9}};
  choices[1] = {1, "caf\xC3\xA9", "length", std::nullopt, {}, {}};
  choices[2] = {2, "", "stop", int32_t{2}, {}, {}};
  const std::string s = completion_response_json(meta(), choices, {5, 7});
  EXPECT_EQ(s.find('\n'), std::string::npos);
  const Json j = Json::parse(s);
  expect_envelope(j, "text_completion");
  ASSERT_EQ(j.at("choices").size(), 3u);
  const Json& c0 = j["choices"][0];
  EXPECT_EQ(c0.size(), 5u);
  EXPECT_EQ(c0.at("index"), 0);
  EXPECT_EQ(c0.at("text"), "Hello");
  EXPECT_TRUE(c0.at("logprobs").is_null());
  EXPECT_EQ(c0.at("finish_reason"), "stop");
  EXPECT_EQ(c0.at("stop_reason"), "\n\n");
  EXPECT_FALSE(c0.contains("token_ids"));
  EXPECT_FALSE(c0.contains("prompt_token_ids"));
  EXPECT_EQ(j["choices"][1].at("text"), "caf\xC3\xA9");
  EXPECT_NE(s.find("caf\xC3\xA9"), std::string::npos);  // raw UTF-8, not \u escapes
  EXPECT_EQ(j["choices"][1].at("finish_reason"), "length");
  EXPECT_TRUE(j["choices"][1].at("stop_reason").is_null());
  EXPECT_EQ(j["choices"][2].at("stop_reason"), 2);
  expect_usage(j.at("usage"), 5, 7);
}

TEST(CompletionResponse, TokenIds) {
  const std::vector<ChoiceResult> choices = {{0, "x", "length", std::nullopt, {4, 5}, {1, 2, 3}}};
  const Json j = Json::parse(completion_response_json(meta(true), choices, {3, 2}));
  const Json& c = j["choices"][0];
  EXPECT_EQ(c.at("token_ids"), Json::parse("[4,5]"));
  EXPECT_EQ(c.at("prompt_token_ids"), Json::parse("[1,2,3]"));
  EXPECT_FALSE(j.contains("prompt_token_ids"));
}

TEST(CompletionResponse, EmptyFinishReasonIsNullAndBadUtf8IsReplaced) {
  const std::vector<ChoiceResult> choices = {{0, "a\xff", "", std::nullopt, {}, {}}};
  std::string s;
  ASSERT_NO_THROW(s = completion_response_json(meta(), choices, {}));
  const Json j = Json::parse(s);
  EXPECT_TRUE(j["choices"][0].at("finish_reason").is_null());
  EXPECT_EQ(j["choices"][0].at("text"), "a\xEF\xBF\xBD");
  expect_usage(j.at("usage"), 0, 0);
}

TEST(ChatResponse, Shape) {
  const std::vector<ChoiceResult> choices = {{0, "Hi\nthere", "stop", std::nullopt, {7}, {}}};
  const std::string s = chat_response_json(meta(), choices, {10, 3}, {1, 2});
  EXPECT_EQ(s.find('\n'), std::string::npos);
  const Json j = Json::parse(s);
  expect_envelope(j, "chat.completion");
  EXPECT_FALSE(j.contains("prompt_token_ids"));
  ASSERT_EQ(j.at("choices").size(), 1u);
  const Json& c = j["choices"][0];
  EXPECT_EQ(c.size(), 5u);
  EXPECT_EQ(c.at("index"), 0);
  EXPECT_EQ(c.at("message"), Json::parse(R"({"role":"assistant","content":"Hi\nthere"})"));
  EXPECT_TRUE(c.at("logprobs").is_null());
  EXPECT_EQ(c.at("finish_reason"), "stop");
  EXPECT_TRUE(c.at("stop_reason").is_null());
  EXPECT_FALSE(c.contains("token_ids"));
  expect_usage(j.at("usage"), 10, 3);

  const Json t = Json::parse(chat_response_json(meta(true), choices, {10, 3}, {1, 2}));
  EXPECT_EQ(t.at("prompt_token_ids"), Json::parse("[1,2]"));
  EXPECT_EQ(t["choices"][0].at("token_ids"), Json::parse("[7]"));
  EXPECT_FALSE(t["choices"][0].contains("prompt_token_ids"));
}

TEST(CompletionChunk, Shape) {
  ChunkDelta d;
  d.index = 0;
  d.text = "Hel";
  const Json j = Json::parse(completion_chunk_json(meta(), d, false));
  expect_envelope(j, "text_completion");
  EXPECT_FALSE(j.contains("usage"));
  ASSERT_EQ(j.at("choices").size(), 1u);
  const Json& c = j["choices"][0];
  EXPECT_EQ(c.at("index"), 0);
  EXPECT_EQ(c.at("text"), "Hel");
  EXPECT_TRUE(c.at("logprobs").is_null());
  EXPECT_TRUE(c.at("finish_reason").is_null());
  EXPECT_TRUE(c.at("stop_reason").is_null());
  EXPECT_FALSE(c.contains("token_ids"));

  d.finish_reason = "stop";
  d.stop_reason = int32_t{128001};
  d.text = "";
  const Json last = Json::parse(completion_chunk_json(meta(), d, true));
  EXPECT_TRUE(last.at("usage").is_null());
  EXPECT_EQ(last["choices"][0].at("finish_reason"), "stop");
  EXPECT_EQ(last["choices"][0].at("stop_reason"), 128001);
  EXPECT_EQ(last["choices"][0].at("text"), "");
}

TEST(CompletionChunk, TokenIds) {
  ChunkDelta d;
  d.text = "a";
  d.token_ids = {42};
  d.prompt_token_ids = Ids{1, 2};
  const Json first = Json::parse(completion_chunk_json(meta(true), d, false));
  EXPECT_EQ(first["choices"][0].at("token_ids"), Json::parse("[42]"));
  EXPECT_EQ(first["choices"][0].at("prompt_token_ids"), Json::parse("[1,2]"));
  d.prompt_token_ids.reset();
  d.token_ids.clear();
  const Json next = Json::parse(completion_chunk_json(meta(true), d, false));
  EXPECT_EQ(next["choices"][0].at("token_ids"), Json::array());
  EXPECT_FALSE(next["choices"][0].contains("prompt_token_ids"));
  // Without return_token_ids nothing is written even if ids are given.
  d.token_ids = {1};
  d.prompt_token_ids = Ids{1};
  const Json off = Json::parse(completion_chunk_json(meta(false), d, false));
  EXPECT_FALSE(off["choices"][0].contains("token_ids"));
  EXPECT_FALSE(off["choices"][0].contains("prompt_token_ids"));
}

TEST(ChatChunk, Shape) {
  ChunkDelta d;
  d.first = true;
  const Json first = Json::parse(chat_chunk_json(meta(), d, false));
  expect_envelope(first, "chat.completion.chunk");
  EXPECT_FALSE(first.contains("usage"));
  EXPECT_FALSE(first.contains("prompt_token_ids"));
  const Json& c = first["choices"][0];
  EXPECT_EQ(c.at("index"), 0);
  EXPECT_EQ(c.at("delta"), Json::parse(R"({"role":"assistant","content":""})"));
  EXPECT_TRUE(c.at("logprobs").is_null());
  EXPECT_TRUE(c.at("finish_reason").is_null());
  EXPECT_FALSE(c.contains("stop_reason"));
  EXPECT_FALSE(c.contains("token_ids"));

  d.first = false;
  d.text = " world";
  const Json mid = Json::parse(chat_chunk_json(meta(), d, true));
  EXPECT_TRUE(mid.at("usage").is_null());
  EXPECT_EQ(mid["choices"][0].at("delta"), Json::parse(R"({"content":" world"})"));

  d.text = "";
  d.finish_reason = "length";
  const Json last = Json::parse(chat_chunk_json(meta(), d, false));
  EXPECT_EQ(last["choices"][0].at("finish_reason"), "length");
  EXPECT_TRUE(last["choices"][0].at("stop_reason").is_null());
  d.finish_reason = "stop";
  d.stop_reason = std::string("</s>");
  EXPECT_EQ(Json::parse(chat_chunk_json(meta(), d, false))["choices"][0].at("stop_reason"), "</s>");
}

TEST(ChatChunk, TokenIds) {
  ChunkDelta d;
  d.first = true;
  d.text = "Hi";
  d.token_ids = {5, 6};
  d.prompt_token_ids = Ids{1, 2, 3};
  const Json j = Json::parse(chat_chunk_json(meta(true), d, false));
  EXPECT_EQ(j.at("prompt_token_ids"), Json::parse("[1,2,3]"));
  EXPECT_EQ(j["choices"][0].at("token_ids"), Json::parse("[5,6]"));
  EXPECT_FALSE(j["choices"][0].contains("prompt_token_ids"));
  const Json off = Json::parse(chat_chunk_json(meta(false), d, false));
  EXPECT_FALSE(off.contains("prompt_token_ids"));
  EXPECT_FALSE(off["choices"][0].contains("token_ids"));
}

TEST(UsageChunk, Shape) {
  const Json c = Json::parse(completion_usage_chunk_json(meta(), {4, 6}));
  expect_envelope(c, "text_completion");
  EXPECT_EQ(c.at("choices"), Json::array());
  expect_usage(c.at("usage"), 4, 6);
  const Json h = Json::parse(chat_usage_chunk_json(meta(), {4, 6}));
  expect_envelope(h, "chat.completion.chunk");
  EXPECT_EQ(h.at("choices"), Json::array());
  expect_usage(h.at("usage"), 4, 6);
}

TEST(OtherResponses, Models) {
  const Json j = Json::parse(models_json("tiny-llama", 1700000001, 4096));
  EXPECT_EQ(j.at("object"), "list");
  ASSERT_EQ(j.at("data").size(), 1u);
  const Json& m = j["data"][0];
  EXPECT_EQ(m.at("id"), "tiny-llama");
  EXPECT_EQ(m.at("object"), "model");
  EXPECT_EQ(m.at("created"), 1700000001);
  EXPECT_EQ(m.at("owned_by"), "waypoint");
  EXPECT_EQ(m.at("root"), "tiny-llama");
  EXPECT_TRUE(m.at("parent").is_null());
  EXPECT_EQ(m.at("max_model_len"), 4096);
}

TEST(OtherResponses, TokenizeAndDetokenize) {
  const Json t = Json::parse(tokenize_json({1, 15043, 3186}, 2048));
  EXPECT_EQ(t, Json::parse(R"({"count":3,"max_model_len":2048,"tokens":[1,15043,3186]})"));
  const Json e = Json::parse(tokenize_json({}, 2048));
  EXPECT_EQ(e.at("count"), 0);
  EXPECT_EQ(e.at("tokens"), Json::array());
  EXPECT_EQ(Json::parse(detokenize_json("Hello \"world\"\n")),
            Json::parse(R"({"prompt":"Hello \"world\"\n"})"));
  EXPECT_EQ(Json::parse(detokenize_json("bad\xC3")).at("prompt"), "bad\xEF\xBF\xBD");
}

TEST(Sse, Framing) {
  EXPECT_EQ(sse_data(R"({"a":1})"), "data: {\"a\":1}\n\n");
  EXPECT_EQ(sse_data(""), "data: \n\n");
  EXPECT_EQ(kSseDone, "data: [DONE]\n\n");
  // A chunk whose text has newlines stays one SSE line: JSON escapes them.
  ChunkDelta d;
  d.text = "line1\nline2\r\n";
  const std::string ev = sse_data(chat_chunk_json(meta(), d, false));
  ASSERT_TRUE(ev.starts_with("data: "));
  ASSERT_TRUE(ev.ends_with("\n\n"));
  const std::string payload = ev.substr(6, ev.size() - 8);
  EXPECT_EQ(payload.find('\n'), std::string::npos);
  EXPECT_EQ(payload.find('\r'), std::string::npos);
  EXPECT_EQ(Json::parse(payload)["choices"][0]["delta"]["content"], "line1\nline2\r\n");
}

}  // namespace
}  // namespace waypoint
