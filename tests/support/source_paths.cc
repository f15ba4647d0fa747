#include "source_paths.h"

#if !defined(OMNISAGE_SOURCE_DIR) || !defined(OMNISAGE_BINARY)
#error "OMNISAGE_SOURCE_DIR and OMNISAGE_BINARY must name the repository root and the binary"
#endif

namespace omnisage::test_paths {

// Function-local statics: safe to call from other translation units' static initializers.
const std::string& SourceDir() {
  static const std::string dir = OMNISAGE_SOURCE_DIR;
  return dir;
}

const std::string& OmnisageBinary() {
  static const std::string binary = OMNISAGE_BINARY;
  return binary;
}

}  // namespace omnisage::test_paths
