// NFC: the fast "already normalized" check must never skip text that NFC would change.
#include "tokenizer/nfc.hpp"

#include <utf8proc.h>

#include <cstdlib>

#include "support/catch.hpp"
#include "tokenizer/utf8.hpp"

using namespace mimo::tokenizer;

namespace {

// NFC straight from utf8proc, bypassing the fast path under test.
std::string utf8proc_nfc(const std::string& text) {
  utf8proc_uint8_t* out = utf8proc_NFC(reinterpret_cast<const utf8proc_uint8_t*>(text.c_str()));
  std::string result(reinterpret_cast<const char*>(out));
  std::free(out);
  return result;
}

std::string utf8(char32_t cp) {
  std::string out;
  append_utf8(cp, out);
  return out;
}

}  // namespace

TEST_CASE("NFC composes, reorders marks and maps singletons") {
  CHECK(nfc("cafe\xcc\x81") == "caf\xc3\xa9");                           // e + acute -> é
  CHECK(nfc("\xe2\x84\xab") == "\xc3\x85");                              // angstrom sign -> Å
  CHECK(nfc("q\xcc\x87\xcc\xa3") == "q\xcc\xa3\xcc\x87");                // dot above/below reorder
  CHECK(nfc("\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab") == "\xed\x95\x9c");  // jamo -> 한
  CHECK(nfc("\xea\xb0\x80\xe1\x86\xa8") == "\xea\xb0\x81");              // 가 + ᆨ -> 각
  CHECK(nfc("plain ascii") == "plain ascii");
}

TEST_CASE("every code point the fast path accepts is NFC-stable in any context") {
  // A code point is unsafe to skip if NFC decomposes it, reorders it, or it can be the second
  // half of a composition, i.e. the last code point of the canonical decomposition of a
  // composite that NFC recomposes (one not excluded from composition).
  std::vector<bool> composes_as_second(0x110000, false);
  for (char32_t cp = 0; cp < 0x110000; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    utf8proc_int32_t buffer[32];
    const auto n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp), buffer, 32,
                                           UTF8PROC_DECOMPOSE, nullptr);
    const bool excluded = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp))->comp_exclusion;
    if (n >= 2 && !excluded) composes_as_second[buffer[n - 1]] = true;
  }
  int accepted = 0;
  for (char32_t cp = 1; cp < 0x110000; ++cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    const std::string text = utf8(cp);
    if (!is_trivially_nfc(text)) continue;
    ++accepted;
    REQUIRE(utf8proc_nfc("a" + text + "b") == "a" + text + "b");
    INFO("code point " << static_cast<unsigned>(cp));
    REQUIRE(!composes_as_second[cp]);
    REQUIRE(utf8proc_get_property(static_cast<utf8proc_int32_t>(cp))->combining_class == 0);
  }
  CHECK(accepted > 200000);  // CJK, emoji etc. do take the fast path
}
