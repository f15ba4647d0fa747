// Where a test finds the repository's files and the omnisage binary.
//
// Only source_paths.cc knows the build tree's paths (as compile definitions), so every test source
// compiles to the same object in any checkout and a compiler cache shares it between them.
#ifndef OMNISAGE_TESTS_SUPPORT_SOURCE_PATHS_H_
#define OMNISAGE_TESTS_SUPPORT_SOURCE_PATHS_H_

#include <string>

namespace omnisage::test_paths {

// The root of the source tree this build was configured from (no trailing slash).
const std::string& SourceDir();

// The path of this build tree's omnisage binary.
const std::string& OmnisageBinary();

}  // namespace omnisage::test_paths

#endif  // OMNISAGE_TESTS_SUPPORT_SOURCE_PATHS_H_
