#include "media/image_file.h"

// clang-format off
#include <cstdio>  // jpeglib.h needs FILE and size_t first
#include <jpeglib.h>
#include <jerror.h>
// clang-format on
#include <fmt/format.h>
#include <png.h>
#include <webp/decode.h>

#include <csetjmp>
#include <cstring>

namespace omnisage {
namespace {

Status TooLarge(const std::string& name, int64_t width, int64_t height) {
  return InvalidArgument(
      fmt::format("{}: image of {}x{} = {} pixels is larger than the {} pixels this build decodes",
                  name, width, height, width * height, kMaxImagePixels));
}

Status CheckSize(const std::string& name, int64_t width, int64_t height) {
  if (width <= 0 || height <= 0) {
    return InvalidArgument(fmt::format("{}: image of {}x{} pixels", name, width, height));
  }
  if (width * height > kMaxImagePixels) return TooLarge(name, width, height);
  return Status::Ok();
}

// ---- PNG ------------------------------------------------------------------------------------

struct PngReader {
  const uint8_t* data;
  size_t size;
  size_t pos = 0;
  char message[256] = {0};
};

void PngRead(png_structp png, png_bytep out, png_size_t n) {
  auto* r = static_cast<PngReader*>(png_get_io_ptr(png));
  if (n > r->size - r->pos) png_error(png, "truncated file");
  std::memcpy(out, r->data + r->pos, n);
  r->pos += n;
}

void PngError(png_structp png, png_const_charp msg) {
  auto* r = static_cast<PngReader*>(png_get_error_ptr(png));
  std::snprintf(r->message, sizeof(r->message), "%s", msg);
  png_longjmp(png, 1);
}

void PngWarning(png_structp, png_const_charp) {}

// No object with a destructor is created between setjmp and the last libpng call, so a longjmp
// out of libpng skips nothing.
Status DecodePng(const std::string& name, const std::string& bytes, DecodedImage& out) {
  // IHDR is the first chunk: its size is checked before libpng reads on towards the pixels.
  if (bytes.size() >= 24) {
    const auto* b = reinterpret_cast<const uint8_t*>(bytes.data());
    const int64_t w = png_get_uint_32(b + 16), h = png_get_uint_32(b + 20);
    if (w * h > kMaxImagePixels) return TooLarge(name, w, h);
  }
  PngReader reader{reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, PngError, PngWarning);
  png_infop info = png != nullptr ? png_create_info_struct(png) : nullptr;
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return ResourceExhausted(fmt::format("{}: libpng could not allocate its state", name));
  }
  std::vector<png_bytep> rows;
  Status status = Status::Ok();
  if (setjmp(png_jmpbuf(png)) != 0) {
    png_destroy_read_struct(&png, &info, nullptr);
    return InvalidArgument(fmt::format("{}: corrupt PNG: {}", name, reader.message));
  }
  png_set_read_fn(png, &reader, PngRead);
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
  png_read_info(png, info);
  const png_uint_32 width = png_get_image_width(png, info);
  const png_uint_32 height = png_get_image_height(png, info);
  status = CheckSize(name, width, height);
  if (status.ok()) {
    const int color = png_get_color_type(png, info);
    if (png_get_bit_depth(png, info) == 16) png_set_strip_16(png);  // keep the high byte
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8) {
      png_set_expand_gray_1_2_4_to_8(png);
    }
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) {
      png_set_gray_to_rgb(png);
    }
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != static_cast<size_t>(width) * 3) {
      png_error(png, "unexpected row layout after conversion to RGB");
    }
    out.width = static_cast<int>(width);
    out.height = static_cast<int>(height);
    out.rgb.resize(static_cast<size_t>(width) * height * 3);
    rows.resize(height);
    for (png_uint_32 y = 0; y < height; ++y) rows[y] = out.rgb.data() + size_t{y} * width * 3;
    png_read_image(png, rows.data());
    png_read_end(png, nullptr);
  }
  png_destroy_read_struct(&png, &info, nullptr);
  out.format = "PNG";
  return status;
}

// ---- JPEG -----------------------------------------------------------------------------------

struct JpegError {
  jpeg_error_mgr mgr;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = {0};
  bool truncated = false;
};

void JpegErrorExit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  cinfo->err->format_message(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings are silent, except that a file ending early (libjpeg pads it with grey) is noted:
// PIL refuses such a file ("image file is truncated"), and so does this decoder.
void JpegWarning(j_common_ptr cinfo, int level) {
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
    auto* err = reinterpret_cast<JpegError*>(cinfo->err);
    cinfo->err->format_message(cinfo, err->message);
    err->truncated = true;
  }
}

// As DecodePng: nothing with a destructor is created after setjmp.
Status DecodeJpeg(const std::string& name, const std::string& bytes, DecodedImage& out) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = JpegErrorExit;
  err.mgr.emit_message = JpegWarning;
  Status status = Status::Ok();
  if (setjmp(err.jump) != 0) {
    jpeg_destroy_decompress(&cinfo);
    return InvalidArgument(fmt::format("{}: corrupt JPEG: {}", name, err.message));
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()),
               static_cast<unsigned long>(bytes.size()));
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xffff);
  jpeg_read_header(&cinfo, TRUE);
  status = CheckSize(name, cinfo.image_width, cinfo.image_height);
  if (status.ok() && (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK)) {
    status =
        InvalidArgument(fmt::format("{}: CMYK JPEG is not supported; convert it to RGB", name));
  }
  if (status.ok()) {
    for (jpeg_saved_marker_ptr m = cinfo.marker_list; m != nullptr; m = m->next) {
      if (m->marker == JPEG_APP0 + 1) {
        const int o = ExifOrientation(m->data, m->data_length);
        if (o != 1) {
          out.exif_orientation = o;
          break;
        }
      }
    }
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    out.width = static_cast<int>(cinfo.output_width);
    out.height = static_cast<int>(cinfo.output_height);
    out.rgb.resize(static_cast<size_t>(out.width) * out.height * 3);
    while (cinfo.output_scanline < cinfo.output_height) {
      JSAMPROW row = out.rgb.data() + static_cast<size_t>(cinfo.output_scanline) * out.width * 3;
      jpeg_read_scanlines(&cinfo, &row, 1);
    }
    if (err.truncated) {
      status = InvalidArgument(fmt::format("{}: corrupt JPEG: {}", name, err.message));
    } else {
      jpeg_finish_decompress(&cinfo);
    }
  }
  jpeg_destroy_decompress(&cinfo);
  out.format = "JPEG";
  return status;
}

// ---- WebP -----------------------------------------------------------------------------------

Status DecodeWebp(const std::string& name, const std::string& bytes, DecodedImage& out) {
  out.format = "WebP";
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  WebPBitstreamFeatures features;
  const VP8StatusCode code = WebPGetFeatures(data, bytes.size(), &features);
  if (code != VP8_STATUS_OK) {
    return InvalidArgument(
        fmt::format("{}: corrupt WebP (libwebp status {})", name, static_cast<int>(code)));
  }
  if (features.has_animation) {
    return InvalidArgument(fmt::format("{}: animated WebP is not supported", name));
  }
  if (Status s = CheckSize(name, features.width, features.height); !s.ok()) return s;
  out.width = features.width;
  out.height = features.height;
  out.rgb.resize(static_cast<size_t>(out.width) * out.height * 3);
  if (WebPDecodeRGBInto(data, bytes.size(), out.rgb.data(), out.rgb.size(), out.width * 3) ==
      nullptr) {
    return InvalidArgument(fmt::format("{}: corrupt or truncated WebP data", name));
  }
  return Status::Ok();
}

uint16_t Get16(const uint8_t* p, bool little) {
  return little ? static_cast<uint16_t>(p[0] | p[1] << 8) : static_cast<uint16_t>(p[0] << 8 | p[1]);
}
uint32_t Get32(const uint8_t* p, bool little) {
  return little
             ? (uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24)
             : (uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]);
}

}  // namespace

int ExifOrientation(const uint8_t* data, size_t size) {
  if (size < 14 || std::memcmp(data, "Exif\0\0", 6) != 0) return 1;
  const uint8_t* tiff = data + 6;
  const size_t n = size - 6;
  bool little;
  if (tiff[0] == 'I' && tiff[1] == 'I') {
    little = true;
  } else if (tiff[0] == 'M' && tiff[1] == 'M') {
    little = false;
  } else {
    return 1;
  }
  if (Get16(tiff + 2, little) != 42) return 1;
  const uint32_t ifd = Get32(tiff + 4, little);
  if (ifd > n || n - ifd < 2) return 1;
  const uint16_t entries = Get16(tiff + ifd, little);
  for (uint32_t i = 0; i < entries; ++i) {
    const size_t at = size_t{ifd} + 2 + size_t{i} * 12;
    if (at + 12 > n) return 1;
    const uint8_t* e = tiff + at;
    if (Get16(e, little) != 0x0112) continue;
    if (Get16(e + 2, little) != 3) return 1;  // SHORT
    const int value = Get16(e + 8, little);
    return value >= 1 && value <= 8 ? value : 1;
  }
  return 1;
}

void ApplyExifOrientation(int orientation, DecodedImage& image) {
  if (orientation < 2 || orientation > 8) return;
  const int w = image.width, h = image.height;
  const bool swap = orientation >= 5;
  const int ow = swap ? h : w, oh = swap ? w : h;
  std::vector<uint8_t> out(image.rgb.size());
  for (int y = 0; y < oh; ++y) {
    for (int x = 0; x < ow; ++x) {
      int sx = x, sy = y;  // the source pixel of output pixel (x, y)
      switch (orientation) {
        case 2:
          sx = w - 1 - x;
          break;
        case 3:
          sx = w - 1 - x;
          sy = h - 1 - y;
          break;
        case 4:
          sy = h - 1 - y;
          break;
        case 5:
          sx = y;
          sy = x;
          break;
        case 6:
          sx = y;
          sy = h - 1 - x;
          break;
        case 7:
          sx = w - 1 - y;
          sy = h - 1 - x;
          break;
        case 8:
          sx = w - 1 - y;
          sy = x;
          break;
      }
      std::memcpy(&out[(static_cast<size_t>(y) * ow + x) * 3],
                  &image.rgb[(static_cast<size_t>(sy) * w + sx) * 3], 3);
    }
  }
  image.rgb = std::move(out);
  image.width = ow;
  image.height = oh;
  image.exif_orientation = orientation;
}

StatusOr<DecodedImage> DecodeImage(const File& file) {
  const std::string& name = file.name();
  if (file.size() == 0) return InvalidArgument(fmt::format("{}: empty file, no image", name));
  // Compressed images are far smaller than their pixels; refuse absurd files before reading.
  if (file.size() > (uint64_t{1} << 31)) {
    return InvalidArgument(
        fmt::format("{}: {} bytes is too large for an image", name, file.size()));
  }
  std::string bytes(file.size(), '\0');
  if (Status s = file.ReadAt(0, bytes.size(), bytes.data()); !s.ok()) return s;
  const auto* b = reinterpret_cast<const uint8_t*>(bytes.data());
  DecodedImage out;
  Status status;
  if (bytes.size() >= 8 && png_sig_cmp(b, 0, 8) == 0) {
    status = DecodePng(name, bytes, out);
  } else if (bytes.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) {
    status = DecodeJpeg(name, bytes, out);
  } else if (bytes.size() >= 12 && std::memcmp(b, "RIFF", 4) == 0 &&
             std::memcmp(b + 8, "WEBP", 4) == 0) {
    status = DecodeWebp(name, bytes, out);
  } else {
    return InvalidArgument(
        fmt::format("{}: not an image this build reads (PNG, JPEG, WebP)", name));
  }
  if (!status.ok()) return status;
  const int orientation = out.exif_orientation;
  out.exif_orientation = 1;
  ApplyExifOrientation(orientation, out);
  return out;
}

StatusOr<DecodedImage> LoadImage(const std::string& path) {
  OMNI_ASSIGN_OR_RETURN(std::unique_ptr<File> file, OpenFile(path));
  return DecodeImage(*file);
}

}  // namespace omnisage
