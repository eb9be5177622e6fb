// Token-id lists for mimo-cli: `score --tokens FILE`, `generate --tokens FILE` and the text
// `detokenize` reads. The format: non-negative decimal ids separated by whitespace and / or
// commas, optionally enclosed in one pair of brackets ("1 2 3", "1,2,3", "[1, 2, 3]").
// Built into mimo-cli, the cli test suite and the token-id fuzz target (fuzz/fuzz_token_ids.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mimo::cli {

// The ids in `text`. Throws mimo::Error(kInvalidArgument) for anything else - a sign, a letter,
// an id beyond int32, unbalanced brackets - naming `label`, the line and column, and the
// offending text (escaped). An empty list is not an error here.
std::vector<std::int32_t> parse_token_list(const std::string& text, const std::string& label);

// The ids in the file at `path`. Throws mimo::Error: kIo when it cannot be read (missing, a
// directory, unreadable), kInvalidFile for malformed content or a file with no ids.
std::vector<std::int32_t> read_token_file(const std::string& path);

// Throws mimo::Error(kInvalidArgument) naming `label` and the id's index when an id is not
// below `vocab_size`.
void check_token_ids(const std::vector<std::int32_t>& ids, std::int64_t vocab_size,
                     const std::string& label);

}  // namespace mimo::cli
