#include "perf/bench_client.hpp"

#include <charconv>
#include <chrono>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace waypoint::bench {

namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// A streamed response may pause long under load before its first token;
// vLLM's client waits hours. Ours waits an hour per read.
constexpr auto kReadTimeout = std::chrono::hours(1);
constexpr auto kConnectTimeout = std::chrono::seconds(10);
// Above any real vocabulary; the probe halves its way down from here.
constexpr int64_t kVocabProbeCeiling = int64_t{1} << 24;

std::string error_message(const std::string& body, int status) {
  const Json j = Json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("error")) {
    const Json& e = j["error"];
    if (e.is_object() && e.contains("message") && e["message"].is_string()) {
      return "HTTP " + std::to_string(status) + ": " + e["message"].get<std::string>();
    }
  }
  std::string text = body.substr(0, 200);
  return "HTTP " + std::to_string(status) + (text.empty() ? "" : ": " + text);
}

httplib::Client make_client(const ServerAddress& address) {
  httplib::Client client(address.host, address.port);
  client.set_connection_timeout(kConnectTimeout);
  client.set_read_timeout(kReadTimeout);
  client.set_keep_alive(false);
  return client;
}

}  // namespace

Result<ServerAddress> parse_base_url(const std::string& url) {
  const std::string_view scheme = "http://";
  if (url.rfind(scheme, 0) != 0) {
    return Error{"--base-url " + url + " is not an http:// URL"};
  }
  std::string rest = url.substr(scheme.size());
  ServerAddress address;
  const size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    address.path_prefix = rest.substr(slash);
    while (!address.path_prefix.empty() && address.path_prefix.back() == '/') {
      address.path_prefix.pop_back();
    }
    rest.resize(slash);
  }
  const size_t colon = rest.rfind(':');
  if (colon != std::string::npos) {
    const std::string port = rest.substr(colon + 1);
    int value = 0;
    const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value <= 0 ||
        value > 65535) {
      return Error{"--base-url " + url + " has no valid port"};
    }
    address.port = value;
    rest.resize(colon);
  }
  if (rest.empty()) return Error{"--base-url " + url + " has no host"};
  address.host = rest;
  return address;
}

void StreamAccumulator::feed(std::string_view bytes, double now) {
  pending_.append(bytes);
  size_t start = 0;
  while (true) {
    const size_t end = pending_.find('\n', start);
    if (end == std::string::npos) break;
    std::string_view line(pending_.data() + start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.rfind("data:", 0) == 0) {
      line.remove_prefix(5);
      while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      event(line, now);
    }
    start = end + 1;
  }
  pending_.erase(0, start);
}

void StreamAccumulator::event(std::string_view data, double now) {
  if (data == "[DONE]" || data.empty()) return;
  const Json j = Json::parse(data, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return;
  if (auto e = j.find("error"); e != j.end() && !e->is_null()) {
    record_.error = e->is_object() && e->contains("message") && (*e)["message"].is_string()
                        ? (*e)["message"].get<std::string>()
                        : e->dump();
    return;
  }
  if (auto choices = j.find("choices");
      choices != j.end() && choices->is_array() && !choices->empty()) {
    if (first_) {
      first_ = false;
      record_.ttft = now;
      if (auto id = j.find("id"); id != j.end() && id->is_string()) {
        record_.response_id = id->get<std::string>();
      }
    } else {
      record_.itl.push_back(now - last_);
    }
    last_ = now;
    ++chunks_;
    return;
  }
  if (auto usage = j.find("usage"); usage != j.end() && usage->is_object()) {
    if (auto n = usage->find("completion_tokens"); n != usage->end() && n->is_number_integer()) {
      usage_tokens_ = n->get<int64_t>();
    }
  }
}

RequestRecord StreamAccumulator::finish(int64_t prompt_len) const {
  RequestRecord r = record_;
  r.prompt_len = prompt_len;
  r.latency = last_;
  r.output_tokens = usage_tokens_.value_or(chunks_);
  r.success = !first_ && r.error.empty();
  if (first_ && r.error.empty()) r.error = "the stream carried no token";
  if (!r.success) r.itl.clear();
  return r;
}

BenchClient::BenchClient(ServerAddress address, std::string api_key)
    : address_(std::move(address)), api_key_(std::move(api_key)) {}

Result<std::string> BenchClient::call(const std::string& method, const std::string& path,
                                      const std::string& body, int* status) const {
  httplib::Client client = make_client(address_);
  httplib::Headers headers;
  if (!api_key_.empty()) headers.emplace("Authorization", "Bearer " + api_key_);
  const std::string target = address_.path_prefix + path;
  auto reply = method == "GET" ? client.Get(target, headers)
                               : client.Post(target, headers, body, "application/json");
  if (!reply) {
    return Error{method + " " + target + ": " + httplib::to_string(reply.error())};
  }
  *status = reply->status;
  return reply->body;
}

Result<std::string> BenchClient::first_model() const {
  int status = 0;
  auto body = call("GET", "/v1/models", "", &status);
  if (!body) return body.error();
  if (status != 200) return Error{"GET /v1/models: " + error_message(*body, status)};
  const Json j = Json::parse(*body, nullptr, false);
  if (j.is_discarded() || !j.contains("data") || !j["data"].is_array() || j["data"].empty() ||
      !j["data"][0].contains("id") || !j["data"][0]["id"].is_string()) {
    return Error{"GET /v1/models lists no model"};
  }
  return j["data"][0]["id"].get<std::string>();
}

Result<int64_t> BenchClient::count_tokens(const std::string& model, const std::string& text) const {
  int status = 0;
  auto body = call("POST", "/tokenize", Json{{"model", model}, {"prompt", text}}.dump(), &status);
  if (!body) return body.error();
  if (status != 200) return Error{"POST /tokenize: " + error_message(*body, status)};
  const Json j = Json::parse(*body, nullptr, false);
  if (!j.is_discarded() && j.contains("count") && j["count"].is_number_integer()) {
    return j["count"].get<int64_t>();
  }
  if (!j.is_discarded() && j.contains("tokens") && j["tokens"].is_array()) {
    return static_cast<int64_t>(j["tokens"].size());
  }
  return Error{"POST /tokenize answered without a token count"};
}

Result<std::string> BenchClient::detokenize(const std::string& model,
                                            const std::vector<int32_t>& ids) const {
  int status = 0;
  auto body = call("POST", "/detokenize", Json{{"model", model}, {"tokens", ids}}.dump(), &status);
  if (!body) return body.error();
  if (status != 200) return Error{"POST /detokenize: " + error_message(*body, status)};
  const Json j = Json::parse(*body, nullptr, false);
  if (j.is_discarded() || !j.contains("prompt") || !j["prompt"].is_string()) {
    return Error{"POST /detokenize answered without a prompt"};
  }
  return j["prompt"].get<std::string>();
}

Result<int32_t> BenchClient::vocab_size(const std::string& model) const {
  // Invariant: id `low` exists, id `high` does not.
  int64_t low = 0;
  int64_t high = kVocabProbeCeiling;
  const auto exists = [&](int64_t id) -> Result<bool> {
    int status = 0;
    auto body = call("POST", "/detokenize",
                     Json{{"model", model}, {"tokens", Json::array({id})}}.dump(), &status);
    if (!body) return body.error();
    if (status == 200) return true;
    if (status == 400) return false;
    return Error{"POST /detokenize: " + error_message(*body, status)};
  };
  auto zero = exists(0);
  if (!zero) return zero.error();
  if (!*zero) return Error{"the server's vocabulary has no token 0"};
  while (high - low > 1) {
    const int64_t mid = low + (high - low) / 2;
    auto found = exists(mid);
    if (!found) return found.error();
    (*found ? low : high) = mid;
  }
  return static_cast<int32_t>(high);
}

RequestRecord BenchClient::stream(const Options& options, const BenchRequest& request) const {
  Json body{{"model", options.model},
            {"max_tokens", request.output_len},
            {"temperature", 0.0},
            {"stream", true},
            {"stream_options", {{"include_usage", true}}}};
  if (options.ignore_eos) body["ignore_eos"] = true;
  if (options.chat) {
    body["messages"] = Json::array({{{"role", "user"}, {"content", request.prompt_text}}});
  } else if (!request.prompt_token_ids.empty()) {
    body["prompt"] = request.prompt_token_ids;
  } else {
    body["prompt"] = request.prompt_text;
  }

  httplib::Client client = make_client(address_);
  httplib::Request req;
  req.method = "POST";
  req.path = address_.path_prefix + options.endpoint;
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  if (!api_key_.empty()) req.set_header("Authorization", "Bearer " + api_key_);

  StreamAccumulator accumulator;
  int status = 0;
  std::string error_body;
  const auto sent = Clock::now();
  req.response_handler = [&](const httplib::Response& response) {
    status = response.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    if (status != 200) {
      error_body.append(data, size);
    } else {
      accumulator.feed(std::string_view(data, size),
                       std::chrono::duration<double>(Clock::now() - sent).count());
    }
    return true;
  };
  auto reply = client.send(req);
  if (!reply) {
    RequestRecord failed;
    failed.prompt_len = request.prompt_len;
    failed.error = httplib::to_string(reply.error());
    return failed;
  }
  if (status != 200) {
    RequestRecord failed;
    failed.prompt_len = request.prompt_len;
    failed.error = error_message(error_body.empty() ? reply->body : error_body, reply->status);
    return failed;
  }
  return accumulator.finish(request.prompt_len);
}

}  // namespace waypoint::bench
