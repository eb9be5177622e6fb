// Reads HF tokenizer.json / tokenizer_config.json into Tokenizer::Impl. Everything outside the
// byte-level BPE family is refused with Error(kUnsupported); malformed files with
// Error(kInvalidFile) naming the file, the JSON path and what was expected.
#include <fmt/format.h>

#include <array>
#include <limits>

#include "mimo/error.hpp"
#include "tokenizer/byte_level.hpp"
#include "tokenizer/loader_parts.hpp"

namespace mimo::tokenizer {

namespace {

using nlohmann::json;

// Ids may leave gaps, but the tables are dense (indexed by id): the largest id must stay below
// this many slots per token plus kIdSlack, so a file cannot make us allocate gigabytes.
constexpr std::size_t kSlotsPerToken = 2;
constexpr std::size_t kIdSlack = std::size_t{1} << 20;

// The common case of a token id, checked without building a JsonField.
bool is_plain_id(const json& value) {
  return value.is_number_unsigned() &&
         value.get<std::uint64_t>() <=
             static_cast<std::uint64_t>(std::numeric_limits<TokenId>::max());
}

class Loader {
 public:
  Loader(Tokenizer::Impl& impl, const JsonField& root) : impl_(impl), root_(root) {}

  void load() {
    const JsonField model = root_.required("model");
    const JsonField added = root_.member("added_tokens");
    const std::size_t token_count =
        model.required("vocab").object().size() + (added.is_null() ? 0 : added.array().size());
    token_count_ = token_count;
    id_limit_ = kSlotsPerToken * token_count + kIdSlack;
    load_vocab(model);
    load_added_tokens(added);
    load_merges(model);
    load_pipeline(impl_, root_);
  }

 private:
  // Makes room for `id`, refusing ids that would make the dense tables absurdly large. `where()`
  // gives the field for the message (built only on failure: the vocabulary is large).
  template <typename Where>
  void grow(TokenId id, const Where& where) {
    const auto needed = static_cast<std::size_t>(id) + 1;
    if (needed > id_limit_) {
      where().fail(ErrorCode::kInvalidFile,
                   fmt::format("token id {} is too large for a file of {} tokens (ids must stay "
                               "below {})",
                               id, token_count_, id_limit_));
    }
    if (impl_.tokens.size() < needed) {
      impl_.tokens.resize(needed);
      impl_.token_raw.resize(needed);
      impl_.present.resize(needed, 0);
      impl_.special.resize(needed, 0);
      impl_.added.resize(needed, 0);
    }
  }

  void load_vocab(const JsonField& model) {
    const std::string type = model.string_or("type", "BPE");
    if (type != "BPE") model.fail(ErrorCode::kUnsupported, fmt::format("type {} (only BPE)", type));
    if (model.bool_or("byte_fallback", false)) model.fail(ErrorCode::kUnsupported, "byte_fallback");
    for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      const JsonField value = model.member(affix);
      if (!value.is_null() && !value.string().empty()) {
        value.fail(ErrorCode::kUnsupported, fmt::format("{:?} (only empty)", value.string()));
      }
    }
    const JsonField vocab = model.required("vocab");
    impl_.token_ids.reserve(vocab.object().size() + 64);
    for (const auto& [token, value] : vocab.object().items()) {
      auto entry = [&, &token = token, &value = value] {
        return JsonField(value, impl_.origin, fmt::format("{}[{:?}]", vocab.path(), token));
      };
      const TokenId id = is_plain_id(value) ? static_cast<TokenId>(value.get<std::uint64_t>())
                                            : entry().token_id();
      grow(id, entry);
      if (impl_.present[id]) {
        entry().fail(ErrorCode::kInvalidFile,
                     fmt::format("id {} is already the id of {:?}", id, impl_.tokens[id]));
      }
      impl_.tokens[id] = token;
      impl_.present[id] = 1;
      // A token outside the byte-level alphabet decodes to its own text, as HF's decoder does.
      impl_.token_raw[id] = byte_level_to_bytes(token).value_or(token);
      impl_.token_ids.emplace(token, id);
    }
    std::array<TokenId, 256> byte_ids;
    for (int b = 0; b < 256; ++b) {
      std::string single;
      single.push_back(static_cast<char>(b));
      const auto it = impl_.token_ids.find(bytes_to_byte_level(single));
      byte_ids[b] = it == impl_.token_ids.end() ? -1 : it->second;
    }
    const bool ignore_merges = model.bool_or("ignore_merges", false);
    impl_.bpe = std::make_unique<BpeModel>(byte_ids, ignore_merges);
    if (ignore_merges) {
      for (const auto& [token, id] : impl_.token_ids)
        impl_.raw_vocab.emplace(impl_.token_raw[id], id);
      impl_.bpe->set_word_lookup(&impl_.raw_vocab);
    }
  }

  void load_merges(const JsonField& model) {
    const JsonField merges = model.required("merges");
    const json& list = merges.array();
    std::int32_t rank = 0;
    for (std::size_t i = 0, n = list.size(); i < n; ++i, ++rank) {
      const json& merge = list[i];
      auto where = [&] { return merges.element(i); };  // built only on failure
      std::string left, right;
      if (merge.is_string()) {
        const std::string& text = merge.get_ref<const std::string&>();
        const auto space = text.find(' ');
        if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) {
          where().fail(ErrorCode::kInvalidFile, fmt::format("{:?} is not \"a b\"", text));
        }
        left = text.substr(0, space);
        right = text.substr(space + 1);
      } else if (merge.is_array() && merge.size() == 2) {
        const auto part = [&](std::size_t k) -> const std::string& {
          return merge[k].is_string() ? merge[k].get_ref<const std::string&>()
                                      : where().element(k).string();  // throws, naming it
        };
        left = part(0);
        right = part(1);
      } else {
        where().expected("\"a b\" or [a, b]");
      }
      const TokenId left_id = lookup(left, where), right_id = lookup(right, where);
      const TokenId merged_id = lookup(left + right, where);
      impl_.bpe->add_merge(left_id, right_id, merged_id, rank);
    }
  }

  template <typename Where>
  TokenId lookup(const std::string& token, const Where& where) const {
    const auto it = impl_.token_ids.find(token);
    if (it == impl_.token_ids.end()) {
      where().fail(ErrorCode::kInvalidFile,
                   fmt::format("uses {:?}, which is not in model.vocab", token));
    }
    return it->second;
  }

  // An added token may repeat a vocabulary token (same text, same id: it then gains the added
  // token's flags) or an earlier added token exactly; any other clash of text or id is an error
  // (HF would silently renumber the token, so the ids the model was trained with would be lost).
  void load_added_tokens(const JsonField& list) {
    std::vector<AddedToken> raw, normalized;
    const std::size_t count = list.is_null() ? 0 : list.array().size();
    for (std::size_t i = 0; i < count; ++i) {
      const JsonField entry = list.element(i);
      AddedToken token;
      const JsonField id = entry.required("id");
      token.id = id.token_id();
      token.content = entry.required("content").string();
      token.special = entry.bool_or("special", false);
      token.normalized = entry.bool_or("normalized", !token.special);
      token.lstrip = entry.bool_or("lstrip", false);
      token.rstrip = entry.bool_or("rstrip", false);
      token.single_word = entry.bool_or("single_word", false);
      grow(token.id, [&] { return id; });
      const auto known = impl_.token_ids.find(token.content);
      if (known != impl_.token_ids.end() && known->second != token.id) {
        entry.fail(ErrorCode::kInvalidFile,
                   fmt::format("{:?} has id {}, but it is already token {}", token.content,
                               token.id, known->second));
      }
      if (impl_.present[token.id] && impl_.tokens[token.id] != token.content) {
        entry.fail(ErrorCode::kInvalidFile,
                   fmt::format("id {} of {:?} is already the id of {:?}", token.id, token.content,
                               impl_.tokens[token.id]));
      }
      if (impl_.added[token.id]) continue;  // the same token listed twice
      impl_.tokens[token.id] = token.content;
      impl_.token_raw[token.id] = token.content;
      impl_.present[token.id] = 1;
      impl_.added[token.id] = 1;
      impl_.special[token.id] = token.special ? 1 : 0;
      impl_.token_ids[token.content] = token.id;
      (token.normalized ? normalized : raw).push_back(std::move(token));
    }
    impl_.raw_added = std::make_unique<AddedTokenMatcher>(std::move(raw));
    impl_.normalized_added = std::make_unique<AddedTokenMatcher>(std::move(normalized));
  }

  Tokenizer::Impl& impl_;
  const JsonField& root_;
  std::size_t token_count_ = 0;
  std::size_t id_limit_ = 0;
};

}  // namespace

std::shared_ptr<Tokenizer::Impl> load_tokenizer(const std::string& tokenizer_json,
                                                const std::string& tokenizer_config_json) {
  auto impl = std::make_shared<Tokenizer::Impl>();
  impl->origin = tokenizer_json;
  const json parsed = read_json_file(tokenizer_json);
  const JsonField root(parsed, impl->origin, "");
  root.object();
  Loader(*impl, root).load();
  if (!tokenizer_config_json.empty()) {
    load_tokenizer_config(*impl, tokenizer_config_json);
  } else {
    impl->chat_template_error =
        fmt::format("no tokenizer_config.json was given with {}", tokenizer_json);
  }
  return impl;
}

}  // namespace mimo::tokenizer
