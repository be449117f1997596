#include "perf/png_writer.hpp"

#include <algorithm>
#include <array>
#include <fstream>
#include <string_view>

namespace waypoint::png {

namespace {

// The reflected CRC-32 table, built at compile time so there is no mutable
// global to initialise.
constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t n = 0; n < 256; ++n) {
    std::uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[n] = c;
  }
  return table;
}
constexpr std::array<std::uint32_t, 256> kCrcTable = make_crc_table();

void put_u32be(std::vector<std::uint8_t>& out, std::uint32_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 24));
  out.push_back(static_cast<std::uint8_t>(v >> 16));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

void put_chunk(std::vector<std::uint8_t>& out, std::string_view type,
               std::span<const std::uint8_t> data) {
  put_u32be(out, static_cast<std::uint32_t>(data.size()));
  const std::size_t type_at = out.size();
  out.insert(out.end(), type.begin(), type.end());
  out.insert(out.end(), data.begin(), data.end());
  // The CRC covers the type and the data, not the length.
  put_u32be(out, crc32(std::span<const std::uint8_t>(out).subspan(type_at)));
}

}  // namespace

Image::Image(std::uint32_t width, std::uint32_t height, Rgb fill)
    : width_(width), height_(height), pixels_(std::size_t{width} * height * 3) {
  for (std::size_t i = 0; i < pixels_.size(); i += 3) {
    pixels_[i] = fill.r;
    pixels_[i + 1] = fill.g;
    pixels_[i + 2] = fill.b;
  }
}

void Image::set(std::int64_t x, std::int64_t y, Rgb c) {
  if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
  const std::size_t i = (static_cast<std::size_t>(y) * width_ + static_cast<std::size_t>(x)) * 3;
  pixels_[i] = c.r;
  pixels_[i + 1] = c.g;
  pixels_[i + 2] = c.b;
}

Rgb Image::get(std::uint32_t x, std::uint32_t y) const {
  const std::size_t i = (std::size_t{y} * width_ + x) * 3;
  return {pixels_[i], pixels_[i + 1], pixels_[i + 2]};
}

std::uint32_t crc32(std::span<const std::uint8_t> bytes, std::uint32_t crc) {
  crc = ~crc;
  for (std::uint8_t b : bytes) crc = kCrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

std::uint32_t adler32(std::span<const std::uint8_t> bytes) {
  constexpr std::uint32_t kMod = 65521;
  std::uint32_t a = 1, b = 0;
  for (std::uint8_t v : bytes) {
    a = (a + v) % kMod;
    b = (b + a) % kMod;
  }
  return (b << 16) | a;
}

std::vector<std::uint8_t> zlib_stored(std::span<const std::uint8_t> bytes) {
  constexpr std::size_t kMaxBlock = 65535;  // LEN is 16 bits
  std::vector<std::uint8_t> out;
  out.reserve(bytes.size() + bytes.size() / kMaxBlock * 5 + 16);
  // CMF 0x78: deflate, 32 KiB window; FLG 0x01 makes CMF*256+FLG a multiple of 31.
  out.push_back(0x78);
  out.push_back(0x01);
  std::size_t at = 0;
  do {
    const std::size_t len = std::min(kMaxBlock, bytes.size() - at);
    const bool last = at + len == bytes.size();
    out.push_back(last ? 0x01 : 0x00);  // BFINAL, BTYPE=00 (stored)
    out.push_back(static_cast<std::uint8_t>(len));
    out.push_back(static_cast<std::uint8_t>(len >> 8));
    out.push_back(static_cast<std::uint8_t>(~len));
    out.push_back(static_cast<std::uint8_t>(~len >> 8));
    out.insert(out.end(), bytes.begin() + static_cast<std::ptrdiff_t>(at),
               bytes.begin() + static_cast<std::ptrdiff_t>(at + len));
    at += len;
  } while (at < bytes.size());
  put_u32be(out, adler32(bytes));
  return out;
}

std::vector<std::uint8_t> encode(const Image& image) {
  std::vector<std::uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  std::vector<std::uint8_t> ihdr;
  put_u32be(ihdr, image.width());
  put_u32be(ihdr, image.height());
  // Bit depth 8, colour type 2 (RGB), deflate, filter method 0, no interlace.
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});
  put_chunk(out, "IHDR", ihdr);

  const std::size_t row_bytes = std::size_t{image.width()} * 3;
  std::vector<std::uint8_t> raw;
  raw.reserve((row_bytes + 1) * image.height());
  for (std::uint32_t y = 0; y < image.height(); ++y) {
    raw.push_back(0);  // filter type None
    const auto row = image.pixels().begin() + static_cast<std::ptrdiff_t>(y * row_bytes);
    raw.insert(raw.end(), row, row + static_cast<std::ptrdiff_t>(row_bytes));
  }
  put_chunk(out, "IDAT", zlib_stored(raw));
  put_chunk(out, "IEND", {});
  return out;
}

Result<void> write_file(const std::filesystem::path& path, const Image& image) {
  const std::vector<std::uint8_t> bytes = encode(image);
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) return Error{"cannot write " + path.string()};
  file.write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  if (!file) return Error{"cannot write " + path.string()};
  return {};
}

}  // namespace waypoint::png
