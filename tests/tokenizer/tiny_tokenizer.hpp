// The tiny byte-level BPE fixture (tests/data/tokenizers/tiny) shared by the tokenizer tests.
#pragma once

#include <string>

#include "mimo/tokenizer.hpp"

namespace mimo::test {

inline std::string tiny_tokenizer_dir() {
  return std::string(MIMO_TEST_DATA_DIR) + "/tokenizers/tiny";
}

inline const Tokenizer& tiny_tokenizer() {
  static const Tokenizer tokenizer = Tokenizer::from_model_dir(tiny_tokenizer_dir());
  return tokenizer;
}

}  // namespace mimo::test
