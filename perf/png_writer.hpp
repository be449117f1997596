#pragma once
// A minimal PNG encoder for `waypoint fit`'s residual plots: 8-bit RGB,
// filter 0 on every scanline, and a zlib stream of stored (uncompressed)
// deflate blocks. The files are larger than a compressing encoder's, but the
// plots are small and the project adds no image or compression library.
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "base/result.hpp"

namespace waypoint::png {

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
};

// width x height pixels, row-major, 3 bytes each.
class Image {
 public:
  Image(std::uint32_t width, std::uint32_t height, Rgb fill = {255, 255, 255});

  std::uint32_t width() const { return width_; }
  std::uint32_t height() const { return height_; }
  // Out-of-range coordinates are ignored, so a caller may draw past an edge.
  void set(std::int64_t x, std::int64_t y, Rgb c);
  Rgb get(std::uint32_t x, std::uint32_t y) const;
  const std::vector<std::uint8_t>& pixels() const { return pixels_; }

 private:
  std::uint32_t width_;
  std::uint32_t height_;
  std::vector<std::uint8_t> pixels_;
};

// The checksums PNG and zlib use (ISO 3309 CRC-32 over a chunk's type and
// data; RFC 1950 Adler-32 over the uncompressed bytes).
std::uint32_t crc32(std::span<const std::uint8_t> bytes, std::uint32_t crc = 0);
std::uint32_t adler32(std::span<const std::uint8_t> bytes);

// The zlib stream (RFC 1950) of the bytes as stored deflate blocks (RFC 1951).
std::vector<std::uint8_t> zlib_stored(std::span<const std::uint8_t> bytes);

// The whole PNG file.
std::vector<std::uint8_t> encode(const Image& image);

Result<void> write_file(const std::filesystem::path& path, const Image& image);

}  // namespace waypoint::png
