#include "frontend/output_processor.hpp"

#include <algorithm>

namespace waypoint {

RequestState::RequestState(const Tokenizer& tokenizer, const GenerationParams& params,
                           int32_t index, std::string request_id,
                           std::vector<TokenId> prompt_token_ids, std::shared_ptr<Waker> waker)
    : index_(index),
      request_id_(std::move(request_id)),
      prompt_token_ids_(std::move(prompt_token_ids)),
      stream_(std::make_shared<RequestStream>(std::move(waker))),
      detokenizer_(tokenizer, params.skip_special_tokens),
      matcher_(params.stop, params.include_stop_str_in_output),
      min_tokens_(params.min_tokens) {}

std::optional<std::string> RequestState::absorb() {
  stream_->take(update_);
  if (update_.error) return update_.error;
  for (TokenId id : update_.token_ids) {
    if (finished_) break;
    token_ids_.push_back(id);
    const std::string piece = detokenizer_.push(id);
    // Stop strings count only once min_tokens are out, as in vLLM.
    append(piece, static_cast<int32_t>(token_ids_.size()) > min_tokens_);
  }
  if (!finished_ && update_.finish_reason) {
    append(detokenizer_.finish(), true);
    if (!finished_) {
      finished_ = true;
      finish_reason_ = std::string(to_string(*update_.finish_reason));
      if (*update_.finish_reason == FinishReason::STOP && update_.stop_reason) {
        stop_reason_ = *update_.stop_reason;
      }
    }
  }
  return std::nullopt;
}

void RequestState::append(const std::string& piece, bool detect) {
  if (piece.empty()) return;
  auto match = matcher_.append(piece, detect);
  text_ += piece;
  if (match) {
    text_.resize(match->truncate_len);
    finished_ = true;
    stopped_here_ = true;
    finish_reason_ = "stop";
    stop_reason_ = match->stop;
  }
}

std::string RequestState::take_delta() {
  const size_t releasable = std::min(matcher_.releasable_len(finished_), text_.size());
  if (releasable <= text_sent_) return {};
  std::string delta = text_.substr(text_sent_, releasable - text_sent_);
  text_sent_ = releasable;
  return delta;
}

std::vector<TokenId> RequestState::take_token_ids() {
  std::vector<TokenId> fresh(token_ids_.begin() + static_cast<ptrdiff_t>(token_ids_sent_),
                             token_ids_.end());
  token_ids_sent_ = token_ids_.size();
  return fresh;
}

void RequestState::conclude(FinishReason why) { stream_->finish(why, token_ids_.size()); }

RequestState& OutputProcessor::add(const Tokenizer& tokenizer, const GenerationParams& params,
                                   int32_t index, std::string request_id,
                                   std::vector<TokenId> prompt_token_ids) {
  states_.push_back(std::make_unique<RequestState>(tokenizer, params, index, std::move(request_id),
                                                   std::move(prompt_token_ids), waker_));
  return *states_.back();
}

void OutputProcessor::abort_unfinished(std::string_view reason, FinishReason why) {
  std::vector<std::string> ids;
  for (const auto& s : states_) {
    if (!s->finished() || s->stopped_here()) {
      s->conclude(s->stopped_here() ? FinishReason::STOP : why);
      ids.push_back(s->request_id());
    }
    s->journey().aborted(reason);
  }
  engine_.abort(ids);
}

void OutputProcessor::abort_stopped(const std::vector<RequestState*>& stopped) {
  std::vector<std::string> ids;
  for (RequestState* s : stopped) {
    s->conclude(FinishReason::STOP);
    ids.push_back(s->request_id());
  }
  engine_.abort(ids);
}

size_t OutputProcessor::num_unfinished() const {
  return static_cast<size_t>(
      std::count_if(states_.begin(), states_.end(), [](const auto& s) { return !s->finished(); }));
}

Usage OutputProcessor::usage() const {
  Usage usage;
  for (const auto& s : states_) {
    usage.prompt_tokens += static_cast<int32_t>(s->prompt_token_ids().size());
    usage.completion_tokens += static_cast<int32_t>(s->token_ids().size());
  }
  return usage;
}

std::vector<ChoiceResult> OutputProcessor::results(bool with_token_ids) const {
  std::vector<ChoiceResult> results;
  for (const auto& s : states_) {
    ChoiceResult r;
    r.index = s->index();
    r.text = s->text();
    r.finish_reason = s->finish_reason();
    r.stop_reason = s->stop_reason();
    if (with_token_ids) {
      r.token_ids = s->token_ids();
      r.prompt_token_ids = s->prompt_token_ids();
    }
    results.push_back(std::move(r));
  }
  return results;
}

void OutputProcessor::departed() {
  for (const auto& s : states_) {
    s->journey().departed(static_cast<int32_t>(s->token_ids().size()), s->finish_reason());
  }
}

}  // namespace waypoint
