// An incremental byte-level JSON recognizer (a pushdown automaton) for a CompiledSchema: RFC 8259
// syntax (UTF-8 validated in strings, escapes with paired surrogates, numbers below 10^308 so a
// double holds them), bounded nesting
// and whitespace, and the schema's types, properties, required keys and enums. It accepts
// exactly the prefixes of documents the schema admits: a byte is refused as soon as no valid
// document can continue the bytes so far. Copying is cheap (the mask walk copies it per trie
// node).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "constraint/json_schema.hpp"

namespace mimo::constraint {

class JsonRecognizer {
 public:
  explicit JsonRecognizer(const CompiledSchema* schema);

  // Consumes one byte; false when it is refused (the recognizer must then be discarded or
  // overwritten by a copy: its state is unspecified).
  bool feed(std::uint8_t byte);
  // Consumes every byte; false at the first refused one.
  bool feed(std::string_view bytes);
  // The bytes so far form a complete document (a top-level number or enum value may still go on).
  bool complete() const;
  // Inside a string, where every byte sequence of plain string characters (no quote, backslash
  // or control byte; whole UTF-8 characters) is accepted and changes nothing that matters: the
  // mask walk then takes the vocabulary's string-safe tokens wholesale.
  bool in_plain_string() const;

 private:
  enum class Lex : std::uint8_t { kNone, kString, kNumber, kLiteral };
  enum class Str : std::uint8_t { kNormal, kEscape, kHex0, kHex1, kHex2, kHex3 };
  enum class Num : std::uint8_t { kMinus, kZero, kInt, kDot, kFrac, kExp, kExpSign, kExpDigits };
  enum class Phase : std::uint8_t {
    kObjectFirstKeyOrEnd,
    kObjectKey,
    kObjectColon,
    kObjectValue,
    kObjectCommaOrEnd,
    kArrayFirstValueOrEnd,
    kArrayValue,
    kArrayCommaOrEnd,
  };
  struct Frame {                    // one open object or array
    std::uint64_t seen = 0;         // object: the properties written so far
    std::int32_t schema = 0;        // the container's schema node
    std::int32_t value_schema = 0;  // object: the schema of the current property's value
    Phase phase = Phase::kObjectFirstKeyOrEnd;
  };
  static constexpr std::int32_t kFreeKey = -2;  // a key outside the names trie

  bool structural(std::uint8_t byte);
  bool start_value(std::uint8_t byte, std::int32_t schema);
  bool start_key(Frame& frame);
  bool close_container();
  void end_value();
  bool string_byte(std::uint8_t byte);
  bool key_byte(std::uint8_t byte);
  bool close_string();
  bool number_byte(std::uint8_t byte);
  bool number_complete() const;
  bool literal_complete() const;

  const CompiledSchema* g_;
  std::vector<Frame> stack_;
  Lex lex_ = Lex::kNone;
  Str str_ = Str::kNormal;
  Num num_ = Num::kMinus;
  bool done_ = false;            // the top-level value is complete
  bool is_key_ = false;          // the string being read is an object key
  bool integer_only_ = false;    // the number being read must be an integer
  bool low_needed_ = false;      // a high-surrogate escape waits for its low half
  std::uint8_t utf8_need_ = 0;   // continuation bytes still expected
  std::uint8_t utf8_lo_ = 0x80;  // the range the next continuation byte must fall in
  std::uint8_t utf8_hi_ = 0xBF;
  std::uint16_t whitespace_ = 0;  // consecutive whitespace bytes
  std::uint16_t code_ = 0;        // the \u escape read so far
  std::uint16_t int_digits_ = 0;  // number: digits before the point (a lone 0 counts none)
  std::uint16_t exponent_ = 0;    // number: the positive exponent read so far
  bool exponent_negative_ = false;
  std::int32_t trie_ = -1;      // literal: the trie being matched; key: the names trie
  std::int32_t trie_node_ = 0;  // ... and the position in it (kFreeKey: left it)
};

}  // namespace mimo::constraint
