// AddedTokenMatcher: the automaton gives exactly the leftmost-longest matches of a plain search
// (flags included), and encoding time does not grow with the number of added tokens.
#include <chrono>
#include <cstring>
#include <random>

#include "edited_fixture.hpp"
#include "support/catch.hpp"
#include "tokenizer/added_tokens.hpp"

using mimo::tokenizer::AddedToken;
using mimo::tokenizer::AddedTokenMatcher;
using mimo::tokenizer::Segment;

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n';
}
bool is_word(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// The definition, on ASCII text: at the first position where some token matches (a single_word
// token only between non-word characters), the longest such token; lstrip / rstrip swallow
// the whitespace around it; the search resumes after it.
std::vector<std::pair<std::string, int>> reference_split(const std::vector<AddedToken>& tokens,
                                                         const std::string& text) {
  std::vector<std::pair<std::string, int>> out;
  std::size_t emitted = 0, pos = 0;
  while (pos < text.size()) {
    const AddedToken* best = nullptr;
    for (const AddedToken& t : tokens) {
      const std::size_t len = t.content.size();
      if (len == 0 || len > text.size() - pos || text.compare(pos, len, t.content) != 0) continue;
      if (t.single_word && ((pos > 0 && is_word(text[pos - 1])) ||
                            (pos + len < text.size() && is_word(text[pos + len])))) {
        continue;
      }
      if (best == nullptr || len > best->content.size()) best = &t;
    }
    if (best == nullptr) {
      ++pos;
      continue;
    }
    std::size_t begin = pos, end = pos + best->content.size();
    if (best->lstrip) {
      while (begin > emitted && is_space(text[begin - 1])) --begin;
    }
    if (best->rstrip) {
      while (end < text.size() && is_space(text[end])) ++end;
    }
    if (begin > emitted) out.emplace_back(text.substr(emitted, begin - emitted), -1);
    out.emplace_back(text.substr(begin, end - begin), best->id);
    emitted = pos = end;
  }
  if (emitted < text.size()) out.emplace_back(text.substr(emitted), -1);
  return out;
}

std::vector<std::pair<std::string, int>> matcher_split(const AddedTokenMatcher& matcher,
                                                       const std::string& text) {
  std::vector<Segment> segments;
  matcher.split(text, segments);
  std::vector<std::pair<std::string, int>> out;
  for (const Segment& s : segments) out.emplace_back(std::string(s.text), s.token_id);
  return out;
}

std::string random_string(std::mt19937& rng, const char* alphabet, int max_length) {
  std::string s;
  const int length = 1 + static_cast<int>(rng() % max_length);
  for (int i = 0; i < length; ++i) s += alphabet[rng() % std::strlen(alphabet)];
  return s;
}

}  // namespace

TEST_CASE("added tokens: leftmost-longest with flags, as a plain search finds them") {
  std::mt19937 rng(21);
  for (int trial = 0; trial < 3000; ++trial) {
    // Few letters, so tokens overlap, nest and share prefixes and suffixes.
    std::vector<AddedToken> tokens;
    const int count = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < count; ++i) {
      AddedToken t;
      t.id = 1000 + i;
      t.content = random_string(rng, "ab c", 5);
      t.lstrip = rng() % 4 == 0;
      t.rstrip = rng() % 4 == 0;
      t.single_word = rng() % 3 == 0;
      tokens.push_back(t);
    }
    // Keep the first of equal contents, as the matcher does.
    std::vector<AddedToken> distinct;
    for (const AddedToken& t : tokens) {
      bool seen = false;
      for (const AddedToken& d : distinct) seen = seen || d.content == t.content;
      if (!seen) distinct.push_back(t);
    }
    const AddedTokenMatcher matcher(tokens);
    for (int k = 0; k < 5; ++k) {
      const std::string text = random_string(rng, "ab c_", 40);
      INFO("text \"" << text << "\"");
      REQUIRE(matcher_split(matcher, text) == reference_split(distinct, text));
    }
  }
}

TEST_CASE("added tokens: encoding time does not grow with their number") {
  // 50,000 added tokens that all start with '<' (each used to be compared at every '<' of the
  // text: about 5e9 comparisons); now one pass over the text.
  mimo::test::EditedFixture many([](nlohmann::json& root) {
    for (int i = 0; i < 50000; ++i) {
      root["added_tokens"].push_back(
          {{"id", 418 + i}, {"content", "<tok" + std::to_string(i) + ">"}, {"special", true}});
    }
  });
  const mimo::Tokenizer tok = mimo::Tokenizer::from_model_dir(many.dir.string());
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "<tok<to<tok4999x<tok123>";
  const auto start = std::chrono::steady_clock::now();
  const auto ids = tok.encode(text);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(std::count(ids.begin(), ids.end(), 418 + 123) == 20000);
  CHECK(seconds < 5.0);  // well under a second on the dev machine
}
