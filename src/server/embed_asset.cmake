# cmake -DIN=file -DOUT=file.cc -DNAME=Function -P embed_asset.cmake
# Writes a C++ source whose omnisage::NAME() returns IN's bytes (as a char array, so any byte is
# safe).
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" length)
math(EXPR bytes "${length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" body "${body}")
file(WRITE "${OUT}.tmp" "// Generated from ${IN} by embed_asset.cmake; do not edit.\n#include <string_view>\n\nnamespace omnisage {\nnamespace {\nconst unsigned char kData[] = {\n${body}0};\n}  // namespace\n\nstd::string_view ${NAME}() { return std::string_view(reinterpret_cast<const char*>(kData), ${bytes}); }\n\n}  // namespace omnisage\n")
file(RENAME "${OUT}.tmp" "${OUT}")
