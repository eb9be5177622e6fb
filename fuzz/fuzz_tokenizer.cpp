// libFuzzer entry: arbitrary bytes as a tokenizer.json, loaded through the public API. Loading
// must succeed or throw mimo::Error - never crash, hang, or leak another exception type - and a
// tokenizer that loads must encode a few texts (added tokens, BPE, invalid UTF-8) into ids it
// knows and decode them back without failing.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "mimo/error.hpp"
#include "mimo/tokenizer.hpp"

namespace {

// The file each input is written to (Tokenizer::from_file reads a path); removed at exit.
struct ScratchFile {
  std::string path = (std::filesystem::temp_directory_path() /
                      ("fuzz_tokenizer_" + std::to_string(getpid()) + ".json"))
                         .string();
  ~ScratchFile() { std::remove(path.c_str()); }
};

const std::string& scratch_path() {
  static const ScratchFile file;
  return file.path;
}

void exercise(const mimo::Tokenizer& tok) {
  static const char* const kTexts[] = {"Hello world <|im_start|>user\n",
                                       "  a<mask> b [cat] naïve \xff\xfe 123",
                                       "<<<<>>>> <s></s> \xe4\xbd\xa0\xe5\xa5\xbd"};
  for (const char* text : kTexts) {
    for (const bool special : {true, false}) {
      const auto ids = tok.encode(text, special);
      for (const mimo::TokenId id : ids) {
        if (!tok.id_to_token(id)) std::abort();  // an id the tokenizer does not know
      }
      tok.decode(ids, special);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  {
    std::ofstream file(scratch_path(), std::ios::binary | std::ios::trunc);
    file.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    exercise(mimo::Tokenizer::from_file(scratch_path()));
  } catch (const mimo::Error&) {
  }
  return 0;
}
