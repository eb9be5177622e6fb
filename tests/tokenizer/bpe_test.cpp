// BPE merging: the heap-based merge must equal the textbook algorithm (repeatedly merge the
// lowest-ranked adjacent pair, leftmost first), and stay fast on a 1 MB word.
#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "support/catch.hpp"
#include "tiny_tokenizer.hpp"
#include "tokenizer/byte_level.hpp"

namespace {

struct Reference {
  std::map<std::pair<std::string, std::string>, int> ranks;
  std::map<std::string, int> vocab;
};

const Reference& reference() {
  static const Reference ref = [] {
    std::ifstream file(mimo::test::tiny_tokenizer_dir() + "/tokenizer.json");
    const auto root = nlohmann::json::parse(file);
    Reference r;
    for (const auto& [token, id] : root["model"]["vocab"].items()) r.vocab[token] = id;
    int rank = 0;
    for (const auto& merge : root["model"]["merges"]) {
      const std::string text = merge;
      const auto space = text.find(' ');
      r.ranks[{text.substr(0, space), text.substr(space + 1)}] = rank++;
    }
    return r;
  }();
  return ref;
}

// Textbook BPE over byte-level symbols: O(n^2) per word, obviously right.
std::vector<int> textbook_bpe(const std::string& word) {
  const Reference& ref = reference();
  std::vector<std::string> symbols;
  for (char c : word) symbols.push_back(mimo::tokenizer::bytes_to_byte_level(std::string(1, c)));
  while (symbols.size() > 1) {
    int best_rank = -1;
    std::size_t best = 0;
    for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
      const auto it = ref.ranks.find({symbols[i], symbols[i + 1]});
      if (it != ref.ranks.end() && (best_rank < 0 || it->second < best_rank)) {
        best_rank = it->second;
        best = i;
      }
    }
    if (best_rank < 0) break;
    symbols[best] += symbols[best + 1];
    symbols.erase(symbols.begin() + static_cast<long>(best) + 1);
  }
  std::vector<int> ids;
  for (const auto& s : symbols) ids.push_back(ref.vocab.at(s));
  return ids;
}

}  // namespace

TEST_CASE("BPE merges agree with the textbook algorithm on random words") {
  const mimo::Tokenizer& tok = mimo::test::tiny_tokenizer();
  // Letters drawn from the fixture's training text, so that many merges apply.
  const std::string alphabet = "theqickbrownfxjumpsvlazydgaint";
  std::mt19937 rng(77);
  std::uniform_int_distribution<std::size_t> letter(0, alphabet.size() - 1), length(1, 60);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string word;
    for (std::size_t i = 0, n = length(rng); i < n; ++i) word.push_back(alphabet[letter(rng)]);
    const auto ids = tok.encode(word);
    REQUIRE(ids == textbook_bpe(word));
  }
}

TEST_CASE("a 1 MB word and 1 MB runs encode in linear time") {
  const mimo::Tokenizer& tok = mimo::test::tiny_tokenizer();
  std::string word;
  std::mt19937 rng(5);
  const std::string alphabet = "thequickbrownfox";
  while (word.size() < (1u << 20)) word.push_back(alphabet[rng() % alphabet.size()]);
  for (const std::string& text : {word, std::string(1u << 20, ' '), std::string(1u << 20, '7'),
                                  std::string(1u << 20, '\n'), std::string(1u << 20, '!')}) {
    const auto start = std::chrono::steady_clock::now();
    const auto ids = tok.encode(text);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK(seconds < 5.0);  // generous: Debug + sanitizers; quadratic merging takes minutes
    REQUIRE(tok.decode(ids) == text);
  }
  // A prefix of the long word tokenizes as the textbook algorithm says.
  const std::string prefix = word.substr(0, 512);
  CHECK(tok.encode(prefix) == textbook_bpe(prefix));
}
