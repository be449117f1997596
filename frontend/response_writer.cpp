#include "frontend/response_writer.hpp"

namespace waypoint {

namespace {
constexpr std::string_view kJson = "application/json";
}  // namespace

ResponseWriter::ResponseWriter(bool chat, ResponseMeta meta, const GenerationParams& params,
                               HttpResponder& responder)
    : chat_(chat), meta_(std::move(meta)), params_(params), responder_(responder) {}

std::string ResponseWriter::chunk_json(const ChunkDelta& delta) const {
  return chat_ ? chat_chunk_json(meta_, delta, params_.include_usage)
               : completion_chunk_json(meta_, delta, params_.include_usage);
}

bool ResponseWriter::begin(const OutputProcessor& processor) {
  if (!params_.stream) return true;
  responder_.start_stream(200, "text/event-stream");
  if (!chat_) return true;
  for (const auto& s : processor.states()) {
    ChunkDelta d;
    d.index = s->index();
    d.first = true;
    if (params_.return_token_ids) d.prompt_token_ids = s->prompt_token_ids();
    if (!responder_.write(sse_data(chunk_json(d)))) return false;
  }
  return true;
}

bool ResponseWriter::write_update(RequestState& s) {
  if (!params_.stream) return true;
  ChunkDelta d;
  d.index = s.index();
  d.text = s.take_delta();
  if (s.finished()) {
    d.finish_reason = s.finish_reason();
    d.stop_reason = s.stop_reason();
  }
  if (params_.return_token_ids) {
    d.token_ids = s.take_token_ids();
    // A completion's first chunk with tokens carries the prompt's ids too.
    if (!chat_ && d.token_ids.size() == s.token_ids().size() && !d.token_ids.empty()) {
      d.prompt_token_ids = s.prompt_token_ids();
    }
  }
  const bool worth_sending = !d.text.empty() || d.finish_reason || !d.token_ids.empty();
  return !worth_sending || responder_.write(sse_data(chunk_json(d)));
}

void ResponseWriter::finish(const OutputProcessor& processor) {
  const Usage usage = processor.usage();
  if (params_.stream) {
    if (params_.include_usage) {
      responder_.write(sse_data(chat_ ? chat_usage_chunk_json(meta_, usage)
                                      : completion_usage_chunk_json(meta_, usage)));
    }
    responder_.write(kSseDone);
    return;
  }
  const auto results = processor.results(params_.return_token_ids);
  responder_.send(200, kJson,
                  chat_ ? chat_response_json(meta_, results, usage,
                                             processor.states().front()->prompt_token_ids())
                        : completion_response_json(meta_, results, usage));
}

void ResponseWriter::fail(const ApiError& error) {
  if (params_.stream) {
    responder_.write(sse_data(error_json(error)));
    responder_.write(kSseDone);
  } else {
    responder_.send(error.status, kJson, error_json(error));
  }
}

}  // namespace waypoint
