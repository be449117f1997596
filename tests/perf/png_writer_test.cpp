// The PNG encoder, checked by decoding its bytes here: the signature, every
// chunk's CRC, IHDR, the zlib stream's stored blocks and Adler-32, and that
// the decoded scanlines are exactly the pixels.
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "perf/png_writer.hpp"
#include "perf/residual_plot.hpp"

namespace waypoint::png {
namespace {

std::uint32_t be32(const std::vector<std::uint8_t>& b, std::size_t at) {
  return std::uint32_t{b[at]} << 24 | std::uint32_t{b[at + 1]} << 16 |
         std::uint32_t{b[at + 2]} << 8 | b[at + 3];
}

struct Decoded {
  std::uint32_t width = 0, height = 0;
  std::uint8_t depth = 0, color = 0;
  std::vector<std::string> chunks;
  std::vector<std::uint8_t> raw;  // the inflated scanlines
};

// Parses the file, failing the test on any inconsistency.
Decoded decode(const std::vector<std::uint8_t>& file) {
  Decoded d;
  const std::vector<std::uint8_t> signature = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  EXPECT_TRUE(file.size() >= 8 && std::equal(signature.begin(), signature.end(), file.begin()));
  std::vector<std::uint8_t> zlib;
  std::size_t at = 8;
  while (at + 12 <= file.size()) {
    const std::uint32_t len = be32(file, at);
    EXPECT_LE(at + 12 + len, file.size());
    const std::string type(file.begin() + static_cast<long>(at + 4),
                           file.begin() + static_cast<long>(at + 8));
    const std::span<const std::uint8_t> typed(file.data() + at + 4, len + 4);
    EXPECT_EQ(crc32(typed), be32(file, at + 8 + len)) << "CRC of " << type;
    const std::uint8_t* data = file.data() + at + 8;
    if (type == "IHDR") {
      EXPECT_EQ(len, 13u);
      d.width = be32(file, at + 8);
      d.height = be32(file, at + 12);
      d.depth = data[8];
      d.color = data[9];
    } else if (type == "IDAT") {
      zlib.insert(zlib.end(), data, data + len);
    }
    d.chunks.push_back(type);
    at += 12 + len;
  }
  EXPECT_EQ(at, file.size());
  // zlib: header, stored blocks, Adler-32.
  EXPECT_GE(zlib.size(), 6u);
  if (zlib.size() < 6) return d;
  EXPECT_EQ((zlib[0] * 256 + zlib[1]) % 31, 0);
  EXPECT_EQ(zlib[0] & 0x0F, 8);  // deflate
  std::size_t z = 2;
  bool final_block = false;
  while (!final_block && z + 5 <= zlib.size()) {
    final_block = zlib[z] & 1;
    EXPECT_EQ((zlib[z] >> 1) & 3, 0) << "not a stored block";
    const std::size_t len = zlib[z + 1] | zlib[z + 2] << 8;
    const std::size_t nlen = zlib[z + 3] | zlib[z + 4] << 8;
    EXPECT_EQ(len ^ 0xFFFF, nlen);
    d.raw.insert(d.raw.end(), zlib.begin() + static_cast<long>(z + 5),
                 zlib.begin() + static_cast<long>(z + 5 + len));
    z += 5 + len;
  }
  EXPECT_TRUE(final_block);
  EXPECT_EQ(z + 4, zlib.size());
  EXPECT_EQ(adler32(d.raw), be32(zlib, z));
  return d;
}

TEST(PngWriter, KnownChecksums) {
  const std::string text = "123456789";
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(text.data()),
                                            text.size());
  EXPECT_EQ(crc32(bytes), 0xCBF43926u);  // the CRC-32 check value
  const std::string wiki = "Wikipedia";
  EXPECT_EQ(adler32(std::span<const std::uint8_t>(
                reinterpret_cast<const std::uint8_t*>(wiki.data()), wiki.size())),
            0x11E60398u);
  // The IEND chunk every PNG ends with: its CRC is a constant.
  const std::uint8_t iend[] = {'I', 'E', 'N', 'D'};
  EXPECT_EQ(crc32(iend), 0xAE426082u);
}

TEST(PngWriter, SmallImageRoundTrips) {
  Image image(5, 3);
  image.set(0, 0, {255, 0, 0});
  image.set(4, 2, {0, 0, 255});
  image.set(9, 9, {1, 2, 3});  // outside: ignored
  const Decoded d = decode(encode(image));
  EXPECT_EQ(d.width, 5u);
  EXPECT_EQ(d.height, 3u);
  EXPECT_EQ(d.depth, 8);
  EXPECT_EQ(d.color, 2);
  EXPECT_EQ(d.chunks, (std::vector<std::string>{"IHDR", "IDAT", "IEND"}));
  ASSERT_EQ(d.raw.size(), 3u * (1 + 5 * 3));
  for (std::uint32_t y = 0; y < 3; ++y) {
    EXPECT_EQ(d.raw[y * 16], 0) << "filter byte";
    for (std::uint32_t x = 0; x < 5; ++x) {
      const Rgb c = image.get(x, y);
      EXPECT_EQ(d.raw[y * 16 + 1 + x * 3], c.r);
      EXPECT_EQ(d.raw[y * 16 + 1 + x * 3 + 1], c.g);
      EXPECT_EQ(d.raw[y * 16 + 1 + x * 3 + 2], c.b);
    }
  }
  EXPECT_EQ(d.raw[1], 255);
  EXPECT_EQ(d.raw[2], 0);
}

TEST(PngWriter, LargeImageSpansSeveralStoredBlocks) {
  // 640x480 RGB is ~920 KB raw: fifteen 64 KiB stored blocks.
  const Image image = fit::residual_plot({{1.0, 0.5, false}, {2.0, -0.5, true}, {3.0, 0.1, false}});
  const Decoded d = decode(encode(image));
  EXPECT_EQ(d.width, 640u);
  EXPECT_EQ(d.height, 480u);
  EXPECT_EQ(d.raw.size(), 480u * (1 + 640 * 3));
}

TEST(PngWriter, EmptyStreamIsOneFinalBlock) {
  const std::vector<std::uint8_t> z = zlib_stored({});
  // header, one empty final block, Adler-32 of nothing (1).
  EXPECT_EQ(z, (std::vector<std::uint8_t>{0x78, 0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0, 0, 0, 1}));
}

}  // namespace
}  // namespace waypoint::png
