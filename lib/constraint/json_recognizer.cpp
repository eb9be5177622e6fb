// JsonRecognizer: the byte-by-byte transitions of the JSON pushdown automaton.
#include "constraint/json_recognizer.hpp"

namespace mimo::constraint {

namespace {

bool is_whitespace(std::uint8_t b) {
  return b == ' ' || b == '\n' || b == '\r' || b == '\t';
}
bool is_digit(std::uint8_t b) {
  return b >= '0' && b <= '9';
}
int hex_value(std::uint8_t b) {
  if (b >= '0' && b <= '9') return b - '0';
  if (b >= 'a' && b <= 'f') return b - 'a' + 10;
  if (b >= 'A' && b <= 'F') return b - 'A' + 10;
  return -1;
}

}  // namespace

JsonRecognizer::JsonRecognizer(const CompiledSchema* schema) : g_(schema) {
  stack_.reserve(static_cast<std::size_t>(schema->max_depth) + 1);
}

bool JsonRecognizer::feed(std::string_view bytes) {
  for (char c : bytes) {
    if (!feed(static_cast<std::uint8_t>(c))) return false;
  }
  return true;
}

bool JsonRecognizer::feed(std::uint8_t b) {
  switch (lex_) {
    case Lex::kString:
      return string_byte(b);
    case Lex::kNumber:
      if (number_byte(b)) return true;
      if (!number_complete()) return false;
      lex_ = Lex::kNone;
      end_value();
      break;  // the byte after the number is read as structure
    case Lex::kLiteral: {
      const std::int32_t next = g_->tries[static_cast<std::size_t>(trie_)].child(trie_node_, b);
      if (next >= 0) {
        trie_node_ = next;
        return true;
      }
      if (!literal_complete()) return false;
      lex_ = Lex::kNone;
      end_value();
      break;
    }
    case Lex::kNone:
      break;
  }
  return structural(b);
}

bool JsonRecognizer::complete() const {
  if (done_) return true;
  if (!stack_.empty()) return false;
  return (lex_ == Lex::kNumber && number_complete()) ||
         (lex_ == Lex::kLiteral && literal_complete());
}

bool JsonRecognizer::in_plain_string() const {
  return lex_ == Lex::kString && str_ == Str::kNormal && utf8_need_ == 0 && !low_needed_ &&
         (!is_key_ || trie_ < 0 || trie_node_ == kFreeKey);
}

bool JsonRecognizer::number_complete() const {
  return num_ == Num::kZero || num_ == Num::kInt || num_ == Num::kFrac || num_ == Num::kExpDigits;
}

bool JsonRecognizer::literal_complete() const {
  return g_->tries[static_cast<std::size_t>(trie_)]
             .nodes[static_cast<std::size_t>(trie_node_)]
             .word >= 0;
}

bool JsonRecognizer::structural(std::uint8_t b) {
  if (done_) return false;
  if (is_whitespace(b)) return ++whitespace_ <= g_->max_whitespace;
  whitespace_ = 0;
  if (stack_.empty()) return start_value(b, g_->root);
  Frame& f = stack_.back();
  const SchemaNode& s = g_->nodes[static_cast<std::size_t>(f.schema)];
  switch (f.phase) {
    case Phase::kObjectFirstKeyOrEnd:
      if (b == '}') return close_container();
      return b == '"' && (s.additional || s.properties != 0) && start_key(f);
    case Phase::kObjectKey:
      return b == '"' && start_key(f);
    case Phase::kObjectColon:
      if (b != ':') return false;
      f.phase = Phase::kObjectValue;
      return true;
    case Phase::kObjectValue:
      return start_value(b, f.value_schema);
    case Phase::kObjectCommaOrEnd:
      if (b == '}') return close_container();
      // A comma must leave a key to write: a strict object with every property written has none.
      if (b != ',' || !(s.additional || (s.properties & ~f.seen) != 0)) return false;
      f.phase = Phase::kObjectKey;
      return true;
    case Phase::kArrayFirstValueOrEnd:
      if (b == ']') return close_container();
      return start_value(b, s.items);
    case Phase::kArrayValue:
      return start_value(b, s.items);
    case Phase::kArrayCommaOrEnd:
      if (b == ']') return close_container();
      if (b != ',') return false;
      f.phase = Phase::kArrayValue;
      return true;
  }
  return false;
}

bool JsonRecognizer::start_value(std::uint8_t b, std::int32_t schema) {
  const SchemaNode& s = g_->nodes[static_cast<std::size_t>(schema)];
  if (s.literals >= 0) {
    const std::int32_t next = g_->tries[static_cast<std::size_t>(s.literals)].child(0, b);
    if (next < 0) return false;
    lex_ = Lex::kLiteral;
    trie_ = s.literals;
    trie_node_ = next;
    return true;
  }
  const bool room = static_cast<int>(stack_.size()) < g_->max_depth;
  switch (b) {
    case '{':
    case '[': {
      if (!room || (s.types & (b == '{' ? kObjectType : kArrayType)) == 0) return false;
      Frame f;
      f.schema = schema;
      f.phase = b == '{' ? Phase::kObjectFirstKeyOrEnd : Phase::kArrayFirstValueOrEnd;
      stack_.push_back(f);
      return true;
    }
    case '"':
      if ((s.types & kStringType) == 0) return false;
      lex_ = Lex::kString;
      str_ = Str::kNormal;
      is_key_ = false;
      return true;
    case 't':
    case 'f':
    case 'n':
      if ((s.types & (b == 'n' ? kNullType : kBooleanType)) == 0) return false;
      lex_ = Lex::kLiteral;
      trie_ = kLiteralTrie;
      trie_node_ = g_->tries[kLiteralTrie].child(0, b);
      return true;
    default:
      if ((b != '-' && !is_digit(b)) || (s.types & (kNumberType | kIntegerType)) == 0) {
        return false;
      }
      lex_ = Lex::kNumber;
      integer_only_ = (s.types & kNumberType) == 0;
      num_ = b == '-' ? Num::kMinus : b == '0' ? Num::kZero : Num::kInt;
      int_digits_ = num_ == Num::kInt ? 1 : 0;
      exponent_ = 0;
      exponent_negative_ = false;
      return true;
  }
}

bool JsonRecognizer::start_key(Frame& f) {
  lex_ = Lex::kString;
  str_ = Str::kNormal;
  is_key_ = true;
  trie_ = g_->nodes[static_cast<std::size_t>(f.schema)].names;
  trie_node_ = trie_ >= 0 ? 0 : kFreeKey;
  return true;
}

bool JsonRecognizer::close_container() {
  const Frame& f = stack_.back();
  if (f.phase <= Phase::kObjectCommaOrEnd) {
    const SchemaNode& s = g_->nodes[static_cast<std::size_t>(f.schema)];
    if ((s.required & ~f.seen) != 0) return false;
  }
  stack_.pop_back();
  end_value();
  return true;
}

void JsonRecognizer::end_value() {
  if (stack_.empty()) {
    done_ = true;
    return;
  }
  Frame& f = stack_.back();
  f.phase =
      f.phase <= Phase::kObjectCommaOrEnd ? Phase::kObjectCommaOrEnd : Phase::kArrayCommaOrEnd;
}

bool JsonRecognizer::string_byte(std::uint8_t b) {
  switch (str_) {
    case Str::kNormal:
      if (utf8_need_ > 0) {
        if (b < utf8_lo_ || b > utf8_hi_) return false;
        --utf8_need_;
        utf8_lo_ = 0x80;
        utf8_hi_ = 0xBF;
        return key_byte(b);
      }
      if (low_needed_) {
        if (b != '\\') return false;
        str_ = Str::kEscape;
        return true;
      }
      if (b == '"') return close_string();
      if (b == '\\') {
        if (is_key_ && trie_ >= 0) return false;  // keys are matched unescaped
        str_ = Str::kEscape;
        return true;
      }
      if (b < 0x20) return false;
      if (b >= 0x80) {
        if (b >= 0xC2 && b <= 0xDF) {
          utf8_need_ = 1;
        } else if (b >= 0xE0 && b <= 0xEF) {
          utf8_need_ = 2;
          if (b == 0xE0) utf8_lo_ = 0xA0;  // no overlong forms
          if (b == 0xED) utf8_hi_ = 0x9F;  // no surrogates
        } else if (b >= 0xF0 && b <= 0xF4) {
          utf8_need_ = 3;
          if (b == 0xF0) utf8_lo_ = 0x90;
          if (b == 0xF4) utf8_hi_ = 0x8F;  // nothing past U+10FFFF
        } else {
          return false;
        }
      }
      return key_byte(b);
    case Str::kEscape:
      if (b == 'u') {
        str_ = Str::kHex0;
        code_ = 0;
        return true;
      }
      if (low_needed_) return false;
      if (b == '"' || b == '\\' || b == '/' || b == 'b' || b == 'f' || b == 'n' || b == 'r' ||
          b == 't') {
        str_ = Str::kNormal;
        return true;
      }
      return false;
    case Str::kHex0:
    case Str::kHex1:
    case Str::kHex2:
    case Str::kHex3: {
      const int d = hex_value(b);
      if (d < 0) return false;
      code_ = static_cast<std::uint16_t>(code_ * 16 + d);
      if (str_ == Str::kHex0) {
        if (low_needed_ && code_ != 0xD) return false;
        str_ = Str::kHex1;
      } else if (str_ == Str::kHex1) {
        // A low surrogate must follow a high one, and only follow one.
        if (low_needed_ != (code_ >= 0xDC && code_ <= 0xDF)) return false;
        str_ = Str::kHex2;
      } else if (str_ == Str::kHex2) {
        str_ = Str::kHex3;
      } else {
        low_needed_ = !low_needed_ && code_ >= 0xD800 && code_ <= 0xDBFF;
        str_ = Str::kNormal;
      }
      return true;
    }
  }
  return false;
}

bool JsonRecognizer::key_byte(std::uint8_t b) {
  if (!is_key_ || trie_ < 0 || trie_node_ == kFreeKey) return true;
  const Frame& f = stack_.back();
  const SchemaNode& s = g_->nodes[static_cast<std::size_t>(f.schema)];
  const WordTrie& names = g_->tries[static_cast<std::size_t>(trie_)];
  const std::int32_t next = names.child(trie_node_, b);
  if (next >= 0 &&
      (s.additional || (names.nodes[static_cast<std::size_t>(next)].below & ~f.seen) != 0)) {
    trie_node_ = next;
    return true;
  }
  if (!s.additional) return false;
  trie_node_ = kFreeKey;
  return true;
}

bool JsonRecognizer::close_string() {
  lex_ = Lex::kNone;
  if (!is_key_) {
    end_value();
    return true;
  }
  Frame& f = stack_.back();
  const SchemaNode& s = g_->nodes[static_cast<std::size_t>(f.schema)];
  std::int32_t property = -1;
  if (trie_ >= 0 && trie_node_ >= 0) {
    property =
        g_->tries[static_cast<std::size_t>(trie_)].nodes[static_cast<std::size_t>(trie_node_)].word;
  }
  if (property >= 0) {
    const std::uint64_t bit = std::uint64_t{1} << property;
    if ((f.seen & bit) != 0) return false;  // a property written twice
    f.seen |= bit;
    f.value_schema = s.property_schema[static_cast<std::size_t>(property)];
  } else {
    if (!s.additional) return false;
    f.value_schema = 0;
  }
  f.phase = Phase::kObjectColon;
  return true;
}

// Magnitudes stay below 10^kMaxDecimalExponent <= DBL_MAX: integer digits plus a positive exponent
// are bounded, so every accepted number parses as a double (strict parsers refuse overflow).
constexpr int kMaxDecimalExponent = 308;

bool JsonRecognizer::number_byte(std::uint8_t b) {
  const bool digit = is_digit(b);
  const bool fraction = !integer_only_ && b == '.';
  const bool exponent = !integer_only_ && (b == 'e' || b == 'E');
  switch (num_) {
    case Num::kMinus:
      if (!digit) return false;
      num_ = b == '0' ? Num::kZero : Num::kInt;
      int_digits_ = num_ == Num::kInt ? 1 : 0;
      return true;
    case Num::kZero:
    case Num::kInt:
      if (digit && num_ == Num::kInt) {
        if (int_digits_ >= kMaxDecimalExponent) return false;
        ++int_digits_;
        return true;
      }
      if (fraction) {
        num_ = Num::kDot;
        return true;
      }
      if (exponent) {
        num_ = Num::kExp;
        return true;
      }
      return false;
    case Num::kDot:
      if (!digit) return false;
      num_ = Num::kFrac;
      return true;
    case Num::kFrac:
      if (digit) return true;
      if (!exponent) return false;
      num_ = Num::kExp;
      return true;
    case Num::kExp:
      if (b == '+' || b == '-') {
        exponent_negative_ = b == '-';
        num_ = Num::kExpSign;
        return true;
      }
      [[fallthrough]];
    case Num::kExpSign:
    case Num::kExpDigits:
      if (!digit) return false;
      if (!exponent_negative_) {
        const int next = exponent_ * 10 + (b - '0');
        if (int_digits_ + next > kMaxDecimalExponent) return false;
        exponent_ = static_cast<std::uint16_t>(next);
      }
      num_ = Num::kExpDigits;
      return true;
  }
  return false;
}

}  // namespace mimo::constraint
