#include "perf/sim_model.hpp"

#include <algorithm>
#include <fstream>

#include "perf/fit_dataset.hpp"
#include "perf/fit_hops.hpp"

namespace waypoint::sim {

namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// A fitted model, checked against the features this build computes: a
// coeffs.json from another version must not be applied column-shifted.
Result<LinearModel> linear_model(const nlohmann::json& slot, const std::vector<std::string>& want,
                                 const std::string& where) {
  if (!slot.is_object()) return Error{where + " is missing"};
  if (slot.contains("error")) {
    return Error{where + " was not fitted: " + slot["error"].dump()};
  }
  if (!slot.contains("features") || !slot.contains("coefficients") ||
      !slot["features"].is_array() || !slot["coefficients"].is_array()) {
    return Error{where + " has no features and coefficients"};
  }
  LinearModel m;
  try {
    m.features = slot["features"].get<std::vector<std::string>>();
    m.coefficients = slot["coefficients"].get<std::vector<double>>();
  } catch (const nlohmann::json::exception&) {
    return Error{where + ": features must be strings and coefficients numbers"};
  }
  if (m.features != want || m.coefficients.size() != want.size()) {
    return Error{where + " has features [" + joined(m.features) + "]; this build computes [" +
                 joined(want) + "]: refit with this build's `waypoint fit`"};
  }
  return m;
}

}  // namespace

double LinearModel::predict(const std::vector<double>& x) const {
  double y = 0;
  for (std::size_t i = 0; i < coefficients.size() && i < x.size(); ++i) y += coefficients[i] * x[i];
  return y;
}

double PerfModel::step_us(const BatchSummary& batch) const { return step_us(fit::step_row(batch)); }

double PerfModel::step_us(const fit::StepRow& row) const {
  return std::max(1.0, beta.predict(fit::beta_features(row)));
}

double PerfModel::api_us(double prompt_tokens, double waiting_depth, double running_depth,
                         double kv_usage) const {
  if (!api_to_core) return 0;
  fit::RequestRow row;
  row.prompt_tokens = prompt_tokens;
  row.waiting_depth = waiting_depth;
  row.running_depth = running_depth;
  row.kv_usage = kv_usage;
  return std::max(0.0, api_to_core->predict(fit::alpha_features(row)));
}

double PerfModel::first_chunk_client_us(double arrival_step_prefill_tokens,
                                        double response_step_prefill_tokens) const {
  if (!client_first_chunk) return client_first_chunk_us;
  return std::max(0.0, client_first_chunk->predict(
                           {1.0, arrival_step_prefill_tokens, response_step_prefill_tokens}));
}

Result<PerfModel> perf_model_from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) return Error{source + ": not a JSON object"};
  PerfModel m;
  auto beta =
      linear_model(j.value("beta", nlohmann::json()), fit::beta_feature_names(), source + ": beta");
  if (!beta) return beta.error();
  m.beta = *beta;

  const nlohmann::json alpha = j.value("alpha", nlohmann::json::object());
  if (alpha.is_object() && alpha.contains("api_to_core")) {
    auto api = linear_model(alpha["api_to_core"], fit::alpha_feature_names(),
                            source + ": alpha.api_to_core");
    if (api) {
      m.api_to_core = *api;
    } else {
      m.notes.push_back(api.error().message + "; API latency taken as 0");
    }
  } else {
    m.notes.push_back(source + " has no alpha.api_to_core; API latency taken as 0");
  }

  const nlohmann::json hops = j.value("hops", nlohmann::json::object());
  const auto hop = [&](const char* name, double& into) {
    const auto it = hops.is_object() ? hops.find(name) : hops.end();
    if (it == hops.end() || !it->is_object() || !it->contains("mean_us") ||
        !(*it)["mean_us"].is_number()) {
      m.notes.push_back(source + " has no hops." + name + "; taken as 0");
      return;
    }
    into = (*it)["mean_us"].get<double>();
  };
  hop("first_response", m.first_response_us);
  hop("departure", m.departure_us);
  hop("step_gap", m.step_gap_us);
  hop("client_first_chunk", m.client_first_chunk_us);
  hop("client_last_chunk", m.client_last_chunk_us);
  if (hops.is_object() && hops.contains("client_first_chunk") &&
      hops["client_first_chunk"].is_object() && hops["client_first_chunk"].contains("features")) {
    auto per_request = linear_model(hops["client_first_chunk"], fit::client_hop_feature_names(),
                                    source + ": hops.client_first_chunk");
    if (!per_request) return per_request.error();
    m.client_first_chunk = *per_request;
  }
  return m;
}

Result<PerfModel> load_perf_model(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error{"cannot read --coeffs " + path};
  const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error{path + ": not JSON"};
  return perf_model_from_json(j, path);
}

}  // namespace waypoint::sim
