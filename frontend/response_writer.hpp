#pragma once
// The last stage of a generation request: the OpenAI response, streamed as
// server-sent events or sent whole, in the shapes of /v1/completions and
// /v1/chat/completions. It reads the output processor's request states.
#include <string>

#include "frontend/http_server.hpp"
#include "frontend/openai_protocol.hpp"
#include "frontend/openai_response.hpp"
#include "frontend/output_processor.hpp"

namespace waypoint {

class ResponseWriter {
 public:
  ResponseWriter(bool chat, ResponseMeta meta, const GenerationParams& params,
                 HttpResponder& responder);

  const ResponseMeta& meta() const { return meta_; }

  // Streamed: the response head and, for chat, each choice's first chunk
  // (the role). False when the client is gone.
  bool begin(const OutputProcessor& processor);
  // Streamed: what one choice has new since the last chunk. False when the
  // client is gone.
  bool write_update(RequestState& state);
  // The end of a response that went well: streamed, the usage chunk (when
  // asked for) and [DONE]; else the whole JSON body.
  void finish(const OutputProcessor& processor);
  // A failure: after a stream started, its last event, as vLLM does; else
  // the HTTP error.
  void fail(const ApiError& error);

 private:
  std::string chunk_json(const ChunkDelta& delta) const;

  bool chat_;
  ResponseMeta meta_;
  const GenerationParams& params_;
  HttpResponder& responder_;
};

}  // namespace waypoint
