#pragma once
// The processes' configurations travel as JSON on the launcher's control
// channel (proto/control_channel.hpp). Each configuration struct lists its
// fields once, beside its process, with nlohmann's
//   NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Config, field, ...)
// where a field missing from the text keeps its default, and these two
// helpers turn it into text and back.
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/result.hpp"

// std::optional as null or its value: nlohmann 3.11 has no serializer for it.
template <class T>
struct nlohmann::adl_serializer<std::optional<T>> {
  static void to_json(nlohmann::json& j, const std::optional<T>& v) {
    j = v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  }
  static void from_json(const nlohmann::json& j, std::optional<T>& v) {
    v = j.is_null() ? std::nullopt : std::optional<T>(j.get<T>());
  }
};

namespace waypoint {

template <class T>
std::string json_text(const T& value) {
  return nlohmann::json(value).dump();
}

// `what` names the configuration in the error ("worker config: ...").
template <class T>
Result<T> from_json_text(const std::string& text, std::string_view what) {
  try {
    return nlohmann::json::parse(text).get<T>();
  } catch (const nlohmann::json::exception& e) {
    return Error{std::string(what) + ": " + e.what()};
  }
}

}  // namespace waypoint
