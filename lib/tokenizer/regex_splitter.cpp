// PCRE2 matching for the Split pre-tokenizer. One compiled pattern is shared by all threads;
// each thread keeps its own match data.
#include "tokenizer/regex_splitter.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <fmt/format.h>
#include <pcre2.h>

#include "mimo/error.hpp"

namespace mimo::tokenizer {

struct RegexSplitter::Compiled {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Compiled() {
    if (code) pcre2_code_free(code);
  }
};

namespace {

// Match data sized for one capture (the whole match), reused per thread.
pcre2_match_data* thread_match_data() {
  struct Holder {
    pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
    ~Holder() { pcre2_match_data_free(data); }
  };
  thread_local Holder holder;
  return holder.data;
}

}  // namespace

RegexSplitter::RegexSplitter(const std::string& pattern, SplitBehavior behavior,
                             const std::string& origin)
    : compiled_(std::make_unique<Compiled>()), behavior_(behavior), origin_(origin) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                  PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &error_code,
                                  &error_offset, nullptr);
  if (!compiled_->code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    throw Error(ErrorCode::kInvalidFile,
                fmt::format("{}: Split pre-tokenizer regex does not compile at offset {}: {} "
                            "(pattern {:?})",
                            origin, error_offset, reinterpret_cast<const char*>(message), pattern));
  }
  compiled_->jit = pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE) == 0;
}

RegexSplitter::~RegexSplitter() = default;

void RegexSplitter::split(std::string_view text, std::vector<std::string_view>& pieces) const {
  pcre2_match_data* match = thread_match_data();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t start = 0;    // where the next search begins
  std::size_t emitted = 0;  // end of the last piece handed out
  while (start < text.size()) {
    const int rc = compiled_->jit ? pcre2_jit_match(compiled_->code, subject, text.size(), start, 0,
                                                    match, nullptr)
                                  : pcre2_match(compiled_->code, subject, text.size(), start,
                                                PCRE2_NO_UTF_CHECK, match, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof(message));
      // A pattern that backtracks catastrophically (from the file) hits PCRE2's limits: the
      // file's fault, reported as such rather than as a hang or an internal error.
      const bool limit = rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
                         rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT;
      throw Error(limit ? ErrorCode::kInvalidFile : ErrorCode::kInternal,
                  fmt::format("{}: Split pre-tokenizer regex failed on a text of {} bytes: {}{}",
                              origin_, text.size(), reinterpret_cast<const char*>(message),
                              limit ? " (does the pattern backtrack catastrophically?)" : ""));
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match);
    const std::size_t begin = ovector[0], end = ovector[1];
    if (begin > emitted) pieces.push_back(text.substr(emitted, begin - emitted));
    emitted = begin;  // an empty match still ends the unmatched text before it, as HF does
    if (end > begin) {
      if (behavior_ == SplitBehavior::kIsolated) pieces.push_back(text.substr(begin, end - begin));
      emitted = end;
      start = end;
    } else {
      // An empty match: step over one whole code point so the search always advances.
      start = begin + 1;
      while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) {
        ++start;
      }
    }
  }
  if (emitted < text.size()) pieces.push_back(text.substr(emitted));
}

}  // namespace mimo::tokenizer
