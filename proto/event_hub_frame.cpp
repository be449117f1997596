#include "proto/event_hub_frame.hpp"

#include <cstring>

#include <msgpack.hpp>

#include "proto/codec.hpp"

namespace waypoint {

const AttrValue* HubEvent::find(std::string_view key) const {
  for (const auto& [k, v] : attrs) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::array<char, 8> encode_seq(uint64_t seq) {
  std::array<char, 8> out{};
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(seq & 0xff);
    seq >>= 8;
  }
  return out;
}

Result<uint64_t> decode_seq(std::string_view frame) {
  if (frame.size() != 8) {
    return Error{"sequence frame must be 8 bytes, got " + std::to_string(frame.size())};
  }
  uint64_t seq = 0;
  for (char c : frame) seq = (seq << 8) | static_cast<uint8_t>(c);
  return seq;
}

namespace {

// msgpack-cxx packs a whole double (2.0) as an integer, which a reader would
// take for an int64 attribute; the payload is self-describing, so always
// write float64.
void pack_float64(msgpack::sbuffer& buffer, double d) {
  uint64_t bits = 0;
  std::memcpy(&bits, &d, sizeof bits);
  char out[9];
  out[0] = static_cast<char>(0xcb);
  for (int i = 8; i >= 1; --i) {
    out[i] = static_cast<char>(bits & 0xff);
    bits >>= 8;
  }
  buffer.write(out, sizeof out);
}

void pack_value(msgpack::sbuffer& buffer, msgpack::packer<msgpack::sbuffer>& pk,
                const AttrValue& value) {
  std::visit(
      [&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, std::monostate>) {
          pk.pack_nil();
        } else if constexpr (std::is_same_v<V, double>) {
          pack_float64(buffer, v);
        } else if constexpr (std::is_same_v<V, std::vector<int64_t>>) {
          pk.pack_array(static_cast<uint32_t>(v.size()));
          for (int64_t i : v) pk.pack(i);
        } else {
          pk.pack(v);
        }
      },
      value);
}

Result<int64_t> read_int(const msgpack::object& o) {
  if (o.type == msgpack::type::NEGATIVE_INTEGER) return o.via.i64;
  if (o.type != msgpack::type::POSITIVE_INTEGER) return Error{"is not an integer"};
  if (o.via.u64 > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return Error{"is out of the int64 range"};
  }
  return static_cast<int64_t>(o.via.u64);
}

Result<AttrValue> read_int_list(const msgpack::object& o) {
  std::vector<int64_t> list;
  list.reserve(o.via.array.size);
  for (uint32_t i = 0; i < o.via.array.size; ++i) {
    auto item = read_int(o.via.array.ptr[i]);
    if (!item)
      return Error{"list attribute item " + std::to_string(i) + " " + item.error().message};
    list.push_back(*item);
  }
  return AttrValue{std::move(list)};
}

Result<AttrValue> read_value(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL:
      return AttrValue{};
    case msgpack::type::BOOLEAN:
      return AttrValue{o.via.boolean};
    case msgpack::type::POSITIVE_INTEGER:
    case msgpack::type::NEGATIVE_INTEGER: {
      auto i = read_int(o);
      if (!i) return Error{"integer attribute " + i.error().message};
      return AttrValue{*i};
    }
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return AttrValue{o.via.f64};
    case msgpack::type::STR:
      return AttrValue{std::string(o.via.str.ptr, o.via.str.size)};
    case msgpack::type::ARRAY:
      return read_int_list(o);
    default:
      return Error{"attribute value must be nil, bool, integer, float, string or integer list"};
  }
}

Result<HubEvent> read_event(const msgpack::object& o) {
  if (o.type != msgpack::type::MAP) return Error{"event must be a map"};
  HubEvent event;
  event.attrs.reserve(o.via.map.size);
  for (uint32_t i = 0; i < o.via.map.size; ++i) {
    const auto& kv = o.via.map.ptr[i];
    if (kv.key.type != msgpack::type::STR) return Error{"event key must be a string"};
    std::string key(kv.key.via.str.ptr, kv.key.via.str.size);
    auto value = read_value(kv.val);
    if (!value) return Error{"event attribute '" + key + "': " + value.error().message};
    event.attrs.emplace_back(std::move(key), std::move(*value));
  }
  return event;
}

}  // namespace

std::string encode_hub_payload(const HubPayload& payload) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pk.pack_map(3);
  pk.pack("ts");
  pack_float64(buffer, payload.ts);
  pk.pack("producer");
  pk.pack(payload.producer);
  pk.pack("events");
  pk.pack_array(static_cast<uint32_t>(payload.events.size()));
  for (const auto& event : payload.events) {
    pk.pack_map(static_cast<uint32_t>(event.attrs.size()));
    for (const auto& [key, value] : event.attrs) {
      pk.pack(key);
      pack_value(buffer, pk, value);
    }
  }
  return std::string(buffer.data(), buffer.size());
}

Result<HubPayload> decode_hub_payload(std::string_view bytes) {
  auto handle = unpack_frame(bytes);
  if (!handle) return handle.error();
  const msgpack::object& root = handle->get();
  if (root.type != msgpack::type::MAP) return Error{"hub payload must be a map"};
  HubPayload payload;
  bool have_events = false;
  for (uint32_t i = 0; i < root.via.map.size; ++i) {
    const auto& kv = root.via.map.ptr[i];
    if (kv.key.type != msgpack::type::STR) return Error{"hub payload key must be a string"};
    const std::string_view key(kv.key.via.str.ptr, kv.key.via.str.size);
    if (key == "ts") {
      if (kv.val.type == msgpack::type::FLOAT32 || kv.val.type == msgpack::type::FLOAT64) {
        payload.ts = kv.val.via.f64;
      } else if (kv.val.type == msgpack::type::POSITIVE_INTEGER) {
        payload.ts = static_cast<double>(kv.val.via.u64);
      } else {
        return Error{"hub payload ts must be a number"};
      }
    } else if (key == "producer") {
      if (kv.val.type != msgpack::type::STR) return Error{"hub payload producer must be a string"};
      payload.producer.assign(kv.val.via.str.ptr, kv.val.via.str.size);
    } else if (key == "events") {
      if (kv.val.type != msgpack::type::ARRAY) return Error{"hub payload events must be a list"};
      have_events = true;
      payload.events.reserve(kv.val.via.array.size);
      for (uint32_t j = 0; j < kv.val.via.array.size; ++j) {
        auto event = read_event(kv.val.via.array.ptr[j]);
        if (!event) return event.error();
        payload.events.push_back(std::move(*event));
      }
    }
    // Unknown keys are ignored: producers may add fields.
  }
  if (!have_events) return Error{"hub payload has no events"};
  return payload;
}

std::array<std::string, 3> encode_hub_frame(const HubFrame& frame) {
  const auto seq = encode_seq(frame.seq);
  return {frame.topic, std::string(seq.data(), seq.size()), frame.payload};
}

Result<HubFrame> decode_hub_frame(const std::vector<std::string_view>& parts) {
  if (parts.size() != 3) {
    return Error{"hub message must have 3 frames, got " + std::to_string(parts.size())};
  }
  if (parts[0].empty()) return Error{"hub message has an empty topic"};
  auto seq = decode_seq(parts[1]);
  if (!seq) return seq.error();
  return HubFrame{std::string(parts[0]), *seq, std::string(parts[2])};
}

}  // namespace waypoint
