// Logits that contain NaN or infinity are reported, not passed on: sampling from them or
// averaging them into a perplexity would give silent garbage.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mimo {

// Throws Error(kNonFinite) naming `operation`, the context position of the first row with a NaN
// or infinity (row r is the logits after the token at first_position + r) and the vocabulary
// index of the value, when any of the `rows` x `vocab` logits is not finite.
void check_finite_logits(const float* logits, std::size_t rows, std::size_t vocab,
                         std::int64_t first_position, const char* operation);

}  // namespace mimo
