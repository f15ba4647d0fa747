// Image files: PNG, JPEG and WebP written here by libpng, libjpeg and libwebp are read back as
// documented in media/image_file.h, the EXIF orientation is honoured, and each kind of bad input
// is an error naming the file.
#include "media/image_file.h"

#include "source_paths.h"

// clang-format off
#include <cstdio>
#include <jpeglib.h>
// clang-format on
#include <gtest/gtest.h>
#include <png.h>
#include <webp/encode.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <tuple>

namespace omnisage {
namespace {

// A deterministic RGB pattern with every value in use along the diagonals.
std::vector<uint8_t> Pattern(int w, int h) {
  std::vector<uint8_t> rgb(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &rgb[(static_cast<size_t>(y) * w + x) * 3];
      p[0] = static_cast<uint8_t>(x * 7 + y * 3);
      p[1] = static_cast<uint8_t>(x * 2 + y * 11 + 40);
      p[2] = static_cast<uint8_t>((x ^ y) * 5);
    }
  }
  return rgb;
}

void PngWrite(png_structp png, png_bytep data, png_size_t n) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<char*>(data), n);
}
void PngFlush(png_structp) {}

// Encodes rows of `channels` samples of `depth` bits (16-bit samples big-endian) as PNG.
// `rows_written` < height stops after that many rows (a truncated file).
std::string EncodePng(int w, int h, int color_type, int depth, const std::vector<uint8_t>& samples,
                      bool interlace = false, int rows_written = -1,
                      const std::vector<png_color>& palette = {}) {
  std::string out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png)) != 0) {
    ADD_FAILURE() << "libpng write failed";
    png_destroy_write_struct(&png, &info);
    return out;
  }
  png_set_write_fn(png, &out, PngWrite, PngFlush);
  png_set_IHDR(png, info, w, h, depth, color_type,
               interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!palette.empty()) {
    png_set_PLTE(png, info, palette.data(), static_cast<int>(palette.size()));
  }
  png_write_info(png, info);
  if (rows_written >= 0) {  // stop here: a file cut short
    png_destroy_write_struct(&png, &info);
    return out;
  }
  const size_t stride = samples.size() / h;
  std::vector<png_bytep> rows(h);
  for (int y = 0; y < h; ++y) rows[y] = const_cast<uint8_t*>(samples.data()) + y * stride;
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

// Encodes RGB as JPEG at `quality` with an optional EXIF orientation in APP1.
std::string EncodeJpeg(int w, int h, const std::vector<uint8_t>& rgb, int quality,
                       int orientation = 0, bool big_endian = false) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_compress(&cinfo);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buf, &size);
  cinfo.image_width = w;
  cinfo.image_height = h;
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  if (orientation > 0) {
    // "Exif\0\0", TIFF header, IFD0 with one entry: Orientation (0x0112), SHORT, count 1.
    std::vector<uint8_t> exif = {'E', 'x', 'i', 'f', 0, 0};
    auto put16 = [&](int v) {
      if (big_endian) {
        exif.push_back(v >> 8), exif.push_back(v & 255);
      } else {
        exif.push_back(v & 255), exif.push_back(v >> 8);
      }
    };
    auto put32 = [&](uint32_t v) {
      if (big_endian) {
        put16(v >> 16), put16(v & 0xffff);
      } else {
        put16(v & 0xffff), put16(v >> 16);
      }
    };
    exif.push_back(big_endian ? 'M' : 'I'), exif.push_back(big_endian ? 'M' : 'I');
    put16(42), put32(8), put16(2);
    put16(0x010F), put16(2), put32(4), put32(0x00414243);  // Make, ASCII: ignored
    put16(0x0112), put16(3), put32(1), put16(orientation), put16(0);
    put32(0);
    jpeg_write_marker(&cinfo, JPEG_APP0 + 1, exif.data(), static_cast<unsigned>(exif.size()));
  }
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(rgb.data()) + cinfo.next_scanline * w * 3;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::string out(reinterpret_cast<char*>(buf), size);
  std::free(buf);
  return out;
}

StatusOr<DecodedImage> Decode(const std::string& name, const std::string& bytes) {
  return DecodeImage(*NewMemoryFile(name, bytes));
}

void ExpectPixels(const DecodedImage& img, int w, int h, const std::vector<uint8_t>& rgb) {
  ASSERT_EQ(img.width, w);
  ASSERT_EQ(img.height, h);
  ASSERT_EQ(img.rgb.size(), rgb.size());
  for (size_t i = 0; i < rgb.size(); ++i) {
    ASSERT_EQ(img.rgb[i], rgb[i]) << "sample " << i;
  }
}

TEST(ImageFileTest, PngRgbIsExact) {
  const int w = 37, h = 23;
  const auto rgb = Pattern(w, h);
  for (bool interlace : {false, true}) {
    auto img = Decode("a.png", EncodePng(w, h, PNG_COLOR_TYPE_RGB, 8, rgb, interlace));
    ASSERT_TRUE(img.ok()) << img.status().ToString();
    EXPECT_EQ(img->format, "PNG");
    ExpectPixels(*img, w, h, rgb);
  }
}

TEST(ImageFileTest, PngAlphaIsDroppedGreyIsReplicated) {
  const int w = 9, h = 5;
  const auto rgb = Pattern(w, h);
  std::vector<uint8_t> rgba, grey, grey_rgb;
  for (size_t i = 0; i < rgb.size() / 3; ++i) {
    rgba.insert(rgba.end(), {rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2], uint8_t(i * 13)});
    grey.push_back(rgb[3 * i]);
    grey_rgb.insert(grey_rgb.end(), {rgb[3 * i], rgb[3 * i], rgb[3 * i]});
  }
  auto a = Decode("rgba.png", EncodePng(w, h, PNG_COLOR_TYPE_RGBA, 8, rgba));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ExpectPixels(*a, w, h, rgb);
  auto g = Decode("grey.png", EncodePng(w, h, PNG_COLOR_TYPE_GRAY, 8, grey));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ExpectPixels(*g, w, h, grey_rgb);
}

TEST(ImageFileTest, Png16BitKeepsHighByteAndPaletteExpands) {
  const int w = 6, h = 4;
  const auto rgb = Pattern(w, h);
  std::vector<uint8_t> rgb16;
  for (uint8_t v : rgb) rgb16.insert(rgb16.end(), {v, uint8_t(255 - v)});  // big-endian
  auto deep = Decode("deep.png", EncodePng(w, h, PNG_COLOR_TYPE_RGB, 16, rgb16));
  ASSERT_TRUE(deep.ok()) << deep.status().ToString();
  ExpectPixels(*deep, w, h, rgb);

  std::vector<png_color> palette = {{10, 20, 30}, {200, 100, 0}, {1, 2, 3}};
  std::vector<uint8_t> index, expected;
  for (int i = 0; i < w * h; ++i) {
    index.push_back(static_cast<uint8_t>(i % 3));
    const png_color& c = palette[i % 3];
    expected.insert(expected.end(), {c.red, c.green, c.blue});
  }
  auto pal =
      Decode("pal.png", EncodePng(w, h, PNG_COLOR_TYPE_PALETTE, 8, index, false, -1, palette));
  ASSERT_TRUE(pal.ok()) << pal.status().ToString();
  ExpectPixels(*pal, w, h, expected);
}

TEST(ImageFileTest, WebpLosslessIsExactAndLossyIsClose) {
  const int w = 31, h = 17;
  const auto rgb = Pattern(w, h);
  uint8_t* out = nullptr;
  size_t n = WebPEncodeLosslessRGB(rgb.data(), w, h, w * 3, &out);
  ASSERT_GT(n, 0u);
  std::string lossless(reinterpret_cast<char*>(out), n);
  WebPFree(out);
  auto img = Decode("a.webp", lossless);
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  EXPECT_EQ(img->format, "WebP");
  ExpectPixels(*img, w, h, rgb);

  std::vector<uint8_t> flat(static_cast<size_t>(w) * h * 3, 0);
  for (size_t i = 0; i < flat.size(); i += 3) flat[i] = 200, flat[i + 1] = 60, flat[i + 2] = 90;
  n = WebPEncodeRGB(flat.data(), w, h, w * 3, 95.0f, &out);
  ASSERT_GT(n, 0u);
  std::string lossy(reinterpret_cast<char*>(out), n);
  WebPFree(out);
  auto l = Decode("b.webp", lossy);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  ASSERT_EQ(l->width, w);
  for (size_t i = 0; i < flat.size(); ++i) EXPECT_NEAR(l->rgb[i], flat[i], 4) << i;

  auto cut = Decode("cut.webp", lossless.substr(0, lossless.size() / 2));
  ASSERT_FALSE(cut.ok());
  EXPECT_NE(cut.status().ToString().find("cut.webp"), std::string::npos);
}

TEST(ImageFileTest, JpegDecodesCloseToTheSource) {
  const int w = 32, h = 24;
  std::vector<uint8_t> flat(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < flat.size(); i += 3) flat[i] = 30, flat[i + 1] = 140, flat[i + 2] = 220;
  auto img = Decode("a.jpg", EncodeJpeg(w, h, flat, 100));
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  EXPECT_EQ(img->format, "JPEG");
  EXPECT_EQ(img->exif_orientation, 1);
  ASSERT_EQ(img->width, w);
  ASSERT_EQ(img->height, h);
  for (size_t i = 0; i < flat.size(); ++i) ASSERT_NEAR(img->rgb[i], flat[i], 2) << i;
}

// Each orientation of the same JPEG decodes to the orientation-1 pixels transformed as
// PIL.ImageOps.exif_transpose does; checked on the corners of a non-square image.
TEST(ImageFileTest, JpegExifOrientationIsHonoured) {
  const int w = 48, h = 32;
  const auto rgb = Pattern(w, h);
  auto base = Decode("o1.jpg", EncodeJpeg(w, h, rgb, 90));
  ASSERT_TRUE(base.ok()) << base.status().ToString();
  // Where the source's top-left, top-right and bottom-left pixels land in the output.
  struct Case {
    int orientation, tl_x, tl_y, tr_x, tr_y, bl_x, bl_y;
  };
  const int W = w - 1, H = h - 1;
  const Case cases[] = {
      {2, W, 0, 0, 0, W, H}, {3, W, H, 0, H, W, 0}, {4, 0, H, W, H, 0, 0}, {5, 0, 0, 0, W, H, 0},
      {6, H, 0, H, W, 0, 0}, {7, H, W, H, 0, 0, W}, {8, 0, W, 0, 0, H, W},
  };
  for (const Case& c : cases) {
    for (bool big_endian : {false, true}) {
      SCOPED_TRACE(testing::Message() << "orientation " << c.orientation << " MM " << big_endian);
      auto img = Decode("o.jpg", EncodeJpeg(w, h, rgb, 90, c.orientation, big_endian));
      ASSERT_TRUE(img.ok()) << img.status().ToString();
      EXPECT_EQ(img->exif_orientation, c.orientation);
      const bool swap = c.orientation >= 5;
      ASSERT_EQ(img->width, swap ? h : w);
      ASSERT_EQ(img->height, swap ? w : h);
      for (int ch = 0; ch < 3; ++ch) {
        EXPECT_EQ(img->at(c.tl_y, c.tl_x, ch), base->at(0, 0, ch));
        EXPECT_EQ(img->at(c.tr_y, c.tr_x, ch), base->at(0, W, ch));
        EXPECT_EQ(img->at(c.bl_y, c.bl_x, ch), base->at(H, 0, ch));
      }
      // And the whole image maps back: undoing the transform pixel by pixel.
      int mismatches = 0;
      for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
          int ox = x, oy = y;  // where source (x, y) lands
          switch (c.orientation) {
            case 2:
              ox = W - x;
              break;
            case 3:
              ox = W - x, oy = H - y;
              break;
            case 4:
              oy = H - y;
              break;
            case 5:
              ox = y, oy = x;
              break;
            case 6:
              ox = H - y, oy = x;
              break;
            case 7:
              ox = H - y, oy = W - x;
              break;
            case 8:
              ox = y, oy = W - x;
              break;
          }
          for (int ch = 0; ch < 3; ++ch) mismatches += img->at(oy, ox, ch) != base->at(y, x, ch);
        }
      }
      EXPECT_EQ(mismatches, 0);
    }
  }
  // An orientation outside 1..8 is ignored.
  auto odd = Decode("o9.jpg", EncodeJpeg(w, h, rgb, 90, 9));
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->exif_orientation, 1);
  EXPECT_EQ(odd->width, w);
}

TEST(ImageFileTest, ExifParserRejectsMalformedPayloads) {
  const uint8_t junk[] = {'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 0xff, 0xff, 0xff, 0x7f, 9, 9};
  EXPECT_EQ(ExifOrientation(junk, sizeof(junk)), 1);
  const uint8_t shortp[] = {'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0, 5, 0};
  EXPECT_EQ(ExifOrientation(shortp, sizeof(shortp)), 1);  // 5 entries promised, none present
  EXPECT_EQ(ExifOrientation(junk, 3), 1);
}

TEST(ImageFileTest, OnePixelImageDecodes) {
  const std::vector<uint8_t> px = {1, 2, 3};
  auto img = Decode("dot.png", EncodePng(1, 1, PNG_COLOR_TYPE_RGB, 8, px));
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  ExpectPixels(*img, 1, 1, px);
}

// Files PIL decodes one particular way (tests/golden/vision/edge, from
// tools/reference/make_image_edge_golden.py): an animated PNG gives its default image (the first
// frame), a 16-bit RGB PNG the high byte of each sample — exactly PIL's pixels.
TEST(ImageFileTest, AnimatedAnd16BitPngAsPil) {
  const std::string dir = ::omnisage::test_paths::SourceDir() + "/tests/golden/vision/edge/";
  for (const auto& [name, w, h] :
       {std::tuple<std::string, int, int>{"animated", 40, 30}, {"deep16", 37, 23}}) {
    auto img = LoadImage(dir + name + ".png");
    ASSERT_TRUE(img.ok()) << img.status().ToString();
    std::ifstream in(dir + name + ".rgb", std::ios::binary);
    const std::string want((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_EQ(want.size(), static_cast<size_t>(w) * h * 3) << name;
    ExpectPixels(*img, w, h, std::vector<uint8_t>(want.begin(), want.end()));
  }
}

void ExpectError(const StatusOr<DecodedImage>& r, const std::string& name,
                 const std::string& words) {
  ASSERT_FALSE(r.ok()) << name;
  const std::string msg = r.status().ToString();
  EXPECT_NE(msg.find(name), std::string::npos) << msg;
  EXPECT_NE(msg.find(words), std::string::npos) << msg;
}

TEST(ImageFileTest, BadInputIsAnErrorNamingTheFile) {
  const int w = 40, h = 30;
  const auto rgb = Pattern(w, h);
  const std::string png = EncodePng(w, h, PNG_COLOR_TYPE_RGB, 8, rgb);
  const std::string jpg = EncodeJpeg(w, h, rgb, 90);
  ExpectError(Decode("empty.png", ""), "empty.png", "empty");
  ExpectError(Decode("text.png", "hello, not an image at all"), "text.png", "not an image");
  ExpectError(Decode("cut.png", png.substr(0, png.size() / 2)), "cut.png", "corrupt PNG");
  ExpectError(Decode("cut.jpg", jpg.substr(0, jpg.size() / 2)), "cut.jpg", "corrupt JPEG");
  std::string flipped = png;
  flipped[flipped.size() / 2] ^= 0x5a;
  ExpectError(Decode("crc.png", flipped), "crc.png", "corrupt PNG");
  std::string riff = "RIFF\x10\0\0\0WEBPVP8 garbage";
  ExpectError(Decode("bad.webp", riff), "bad.webp", "WebP");
  // 20000 x 20000 is above PIL's decompression-bomb limit: refused from the header alone.
  ExpectError(Decode("huge.png", EncodePng(20000, 20000, PNG_COLOR_TYPE_RGB, 8, {}, false, 0)),
              "huge.png", "larger than");
  ExpectError(LoadImage("/nonexistent/dir/x.png"), "/nonexistent/dir/x.png", "");
}

}  // namespace
}  // namespace omnisage
