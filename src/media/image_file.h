// Image files into the 8-bit RGB pixels the image processor reads, as the reference pipeline gets
// them: transformers' load_image opens the file with PIL, applies ImageOps.exif_transpose and
// converts to "RGB".
//
// Decoders are the packaged libraries: libpng (PNG), libjpeg-turbo (JPEG, the same library PIL
// decodes JPEG with, default settings: islow IDCT, fancy upsampling) and libwebp (WebP, lossy and
// lossless). Every byte comes through the project's File (io/file.h).
//
// Conversion to RGB, as PIL's convert("RGB") does it:
//   - grey is replicated into the three channels; palette images are expanded through the palette;
//   - an alpha channel is dropped (not composited onto any background);
//   - 16-bit PNG samples keep their high byte (PIL's "RGB;16B" raw mode does the same);
//   - an animated PNG decodes as its default image (libpng and PIL both show the first frame);
//     an animated WebP is refused (libwebp's still-image decoder does not read it).
// JPEG in CMYK or YCCK is refused (no colour management here).
//
// Orientation: the EXIF Orientation tag (0x0112) of a JPEG's APP1 segment is honoured like
// PIL.ImageOps.exif_transpose (2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90° clockwise,
// 7 transverse, 8 rotate 90° counter-clockwise); values outside 1..8 are ignored. EXIF in PNG or
// WebP is not read.
//
// Size: an image of more than kMaxImagePixels pixels is refused from its header, before any pixel
// memory is allocated (PIL's DecompressionBombError threshold, 2 × 89,478,485 pixels).
//
// Errors name the file: missing or unreadable, not PNG/JPEG/WebP, truncated or corrupt data, too
// large, an unsupported colour space.
//
// Pure functions of their inputs; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/file.h"
#include "util/status.h"

namespace omnisage {

inline constexpr int64_t kMaxImagePixels = 2 * int64_t{89478485};

struct DecodedImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // [height, width, 3], row-major, 8 bits per channel
  std::string format;        // "PNG", "JPEG" or "WebP"
  int exif_orientation = 1;  // the orientation applied (1 = none)

  uint8_t at(int y, int x, int c) const {
    return rgb[(static_cast<size_t>(y) * width + x) * 3 + c];
  }
};

// Decodes `file` by its signature (not its name) and applies the EXIF orientation.
StatusOr<DecodedImage> DecodeImage(const File& file);

// Reads the image at `path`: OpenFile, DecodeImage.
StatusOr<DecodedImage> LoadImage(const std::string& path);

// Applies EXIF orientation `orientation` (1..8, as above) to `image` in place; other values leave
// it unchanged. Exposed for tests.
void ApplyExifOrientation(int orientation, DecodedImage& image);

// The Orientation tag of an EXIF APP1 payload ("Exif\0\0" then a TIFF header), or 1 when absent
// or malformed. Exposed for tests.
int ExifOrientation(const uint8_t* data, size_t size);

}  // namespace omnisage
