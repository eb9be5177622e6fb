// Reading a checkpoint's or tokenizer's metadata file (config.json, tokenizer.json,
// tokenizer_config.json, the shard index) whole, refusing what is not a regular file: a
// directory would read as empty text, a FIFO would block forever, /dev/zero would never end.
#pragma once

#include <cstdint>
#include <string>

namespace mimo::io {

// Larger metadata files are refused rather than read (the largest real tokenizer.json files are
// tens of MB).
inline constexpr std::uint64_t kMaxTextFileBytes = std::uint64_t{1} << 30;

// The file's bytes. Throws mimo::Error naming `path`: kIo when it cannot be opened or read or is
// not a regular file (after symlinks), kInvalidFile when it exceeds kMaxTextFileBytes.
std::string read_text_file(const std::string& path);

}  // namespace mimo::io
