// Reads HF tokenizer.json / tokenizer_config.json into Tokenizer::Impl. Everything outside the
// byte-level BPE family is refused with Error(kUnsupported) naming the file and the field.
#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "mimo/error.hpp"
#include "tokenizer/byte_level.hpp"
#include "tokenizer/tokenizer_impl.hpp"

namespace mimo::tokenizer {

namespace {

using nlohmann::json;

// GPT-2's pattern, which ByteLevel(use_regex = true) applies.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

json read_json(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(ErrorCode::kIo, fmt::format("{}: cannot open file", path));
  std::stringstream buffer;
  buffer << file.rdbuf();
  try {
    return json::parse(buffer.str());
  } catch (const json::exception& e) {
    throw Error(ErrorCode::kInvalidFile, fmt::format("{}: not valid JSON: {}", path, e.what()));
  }
}

class Loader {
 public:
  Loader(Tokenizer::Impl& impl, const json& root) : impl_(impl), root_(root) {}

  void load() {
    load_vocab();
    load_added_tokens();
    load_merges();
    load_normalizer(root_.value("normalizer", json()));
    load_pre_tokenizer(root_.value("pre_tokenizer", json()), "pre_tokenizer");
    check_decoder(root_.value("decoder", json()), "decoder");
    load_post_processor(root_.value("post_processor", json()), "post_processor");
  }

 private:
  [[noreturn]] void fail(ErrorCode code, const std::string& what) const {
    throw Error(code, fmt::format("{}: {}", impl_.origin, what));
  }

  const json& field(const json& object, const char* name, const std::string& where) const {
    if (!object.is_object() || !object.contains(name)) {
      fail(ErrorCode::kInvalidFile, fmt::format("{} has no field \"{}\"", where, name));
    }
    return object.at(name);
  }

  void grow(TokenId id) {
    if (id < 0) fail(ErrorCode::kInvalidFile, fmt::format("negative token id {}", id));
    const auto needed = static_cast<std::size_t>(id) + 1;
    if (impl_.tokens.size() < needed) {
      impl_.tokens.resize(needed);
      impl_.token_raw.resize(needed);
      impl_.present.resize(needed, 0);
      impl_.special.resize(needed, 0);
      impl_.added.resize(needed, 0);
    }
  }

  void load_vocab() {
    const json& model = field(root_, "model", "tokenizer.json");
    const std::string type = model.value("type", "BPE");
    if (type != "BPE") fail(ErrorCode::kUnsupported, fmt::format("model.type {} (only BPE)", type));
    if (model.value("byte_fallback", false)) fail(ErrorCode::kUnsupported, "model.byte_fallback");
    for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      const json& value = model.value(affix, json());
      if (value.is_string() && !value.get<std::string>().empty()) {
        fail(ErrorCode::kUnsupported,
             fmt::format("model.{} {:?}", affix, value.get<std::string>()));
      }
    }
    const json& vocab = field(model, "vocab", "model");
    if (!vocab.is_object()) fail(ErrorCode::kInvalidFile, "model.vocab is not an object");
    impl_.token_ids.reserve(vocab.size() + 64);
    for (const auto& [token, value] : vocab.items()) {
      if (!value.is_number_integer()) {
        fail(ErrorCode::kInvalidFile, fmt::format("model.vocab[{:?}] is not an integer", token));
      }
      const auto id = value.get<TokenId>();
      grow(id);
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
    const bool ignore_merges = model.value("ignore_merges", false);
    impl_.bpe = std::make_unique<BpeModel>(byte_ids, ignore_merges);
    if (ignore_merges) {
      for (const auto& [token, id] : impl_.token_ids)
        impl_.raw_vocab.emplace(impl_.token_raw[id], id);
      impl_.bpe->set_word_lookup(&impl_.raw_vocab);
    }
  }

  void load_merges() {
    const json& merges = field(root_.at("model"), "merges", "model");
    if (!merges.is_array()) fail(ErrorCode::kInvalidFile, "model.merges is not an array");
    std::int32_t rank = 0;
    for (const json& merge : merges) {
      std::string left, right;
      if (merge.is_string()) {
        const std::string& text = merge.get_ref<const std::string&>();
        const auto space = text.find(' ');
        if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) {
          fail(ErrorCode::kInvalidFile,
               fmt::format("model.merges[{}] {:?} is not \"a b\"", rank, text));
        }
        left = text.substr(0, space);
        right = text.substr(space + 1);
      } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
                 merge[1].is_string()) {
        left = merge[0].get<std::string>();
        right = merge[1].get<std::string>();
      } else {
        fail(ErrorCode::kInvalidFile,
             fmt::format("model.merges[{}] is neither \"a b\" nor [a, b]", rank));
      }
      const TokenId left_id = lookup(left, rank), right_id = lookup(right, rank);
      const TokenId merged_id = lookup(left + right, rank);
      impl_.bpe->add_merge(left_id, right_id, merged_id, rank);
      ++rank;
    }
  }

  TokenId lookup(const std::string& token, std::int32_t rank) const {
    const auto it = impl_.token_ids.find(token);
    if (it == impl_.token_ids.end()) {
      fail(ErrorCode::kInvalidFile,
           fmt::format("model.merges[{}] uses {:?}, which is not in model.vocab", rank, token));
    }
    return it->second;
  }

  void load_added_tokens() {
    std::vector<AddedToken> raw, normalized;
    for (const json& entry : root_.value("added_tokens", json::array())) {
      AddedToken token;
      token.id = field(entry, "id", "added_tokens[]").get<TokenId>();
      token.content = field(entry, "content", "added_tokens[]").get<std::string>();
      token.special = entry.value("special", false);
      token.normalized = entry.value("normalized", !token.special);
      token.lstrip = entry.value("lstrip", false);
      token.rstrip = entry.value("rstrip", false);
      token.single_word = entry.value("single_word", false);
      grow(token.id);
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

  void load_normalizer(const json& normalizer) {
    if (normalizer.is_null()) return;
    const std::string type = normalizer.value("type", "");
    if (type == "NFC") {
      impl_.normalize_nfc = true;
    } else if (type == "Sequence") {
      for (const json& inner : normalizer.value("normalizers", json::array()))
        load_normalizer(inner);
    } else {
      fail(ErrorCode::kUnsupported, fmt::format("normalizer type {:?} (only NFC)", type));
    }
  }

  void load_pre_tokenizer(const json& pre, const std::string& where) {
    if (pre.is_null()) return;
    const std::string type = pre.value("type", "");
    if (type == "Sequence") {
      int index = 0;
      for (const json& inner : pre.value("pretokenizers", json::array())) {
        load_pre_tokenizer(inner, fmt::format("{}.pretokenizers[{}]", where, index++));
      }
    } else if (type == "Split") {
      const json& pattern = field(pre, "pattern", where);
      std::string regex;
      if (pattern.contains("Regex")) {
        regex = pattern["Regex"].get<std::string>();
      } else if (pattern.contains("String")) {
        regex = quote_literal(pattern["String"].get<std::string>());
      } else {
        fail(ErrorCode::kInvalidFile, fmt::format("{}.pattern is neither Regex nor String", where));
      }
      const std::string behavior = pre.value("behavior", "Isolated");
      SplitBehavior split_behavior = SplitBehavior::kIsolated;
      if (behavior == "Removed") {
        split_behavior = SplitBehavior::kRemoved;
      } else if (behavior != "Isolated") {
        fail(ErrorCode::kUnsupported,
             fmt::format("{}.behavior {:?} (Isolated or Removed)", where, behavior));
      }
      if (pre.value("invert", false))
        fail(ErrorCode::kUnsupported, fmt::format("{}.invert", where));
      impl_.splitters.push_back(std::make_unique<RegexSplitter>(
          regex, split_behavior, fmt::format("{} {}", impl_.origin, where)));
    } else if (type == "ByteLevel") {
      // Bytes become byte-level characters inside the BPE model; only the options matter here.
      impl_.add_prefix_space = pre.value("add_prefix_space", false);
      if (pre.value("use_regex", true)) {
        impl_.splitters.push_back(std::make_unique<RegexSplitter>(
            kGpt2Pattern, SplitBehavior::kIsolated, fmt::format("{} {}", impl_.origin, where)));
      }
    } else {
      fail(ErrorCode::kUnsupported,
           fmt::format("{} type {:?} (Sequence, Split and ByteLevel are supported)", where, type));
    }
  }

  static std::string quote_literal(const std::string& text) { return "\\Q" + text + "\\E"; }

  void check_decoder(const json& decoder, const std::string& where) {
    if (decoder.is_null()) return;
    const std::string type = decoder.value("type", "");
    if (type == "Sequence") {
      for (const json& inner : decoder.value("decoders", json::array()))
        check_decoder(inner, where);
    } else if (type != "ByteLevel") {
      fail(ErrorCode::kUnsupported, fmt::format("{} type {:?} (only ByteLevel)", where, type));
    }
  }

  void load_post_processor(const json& post, const std::string& where) {
    if (post.is_null()) return;
    const std::string type = post.value("type", "");
    if (type == "ByteLevel") return;
    if (type == "Sequence") {
      for (const json& inner : post.value("processors", json::array()))
        load_post_processor(inner, where);
      return;
    }
    if (type != "TemplateProcessing") {
      fail(ErrorCode::kUnsupported,
           fmt::format("{} type {:?} (ByteLevel or TemplateProcessing)", where, type));
    }
    bool after_sequence = false;
    for (const json& item : field(post, "single", where)) {
      if (item.contains("Sequence")) {
        after_sequence = true;
        continue;
      }
      const std::string name =
          field(field(item, "SpecialToken", where + ".single[]"), "id", where).get<std::string>();
      const json& specials = field(post, "special_tokens", where);
      const json& ids =
          field(field(specials, name.c_str(), where + ".special_tokens"), "ids", name);
      for (const json& id : ids)
        (after_sequence ? impl_.suffix_ids : impl_.prefix_ids).push_back(id.get<TokenId>());
    }
  }

  Tokenizer::Impl& impl_;
  const json& root_;
};

std::optional<std::string> token_text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string()) {
    return value["content"].get<std::string>();
  }
  return std::nullopt;
}

void load_config(Tokenizer::Impl& impl, const std::string& path) {
  const json config = read_json(path);
  if (!config.is_object())
    throw Error(ErrorCode::kInvalidFile, fmt::format("{}: not an object", path));
  impl.clean_up_tokenization_spaces = config.value("clean_up_tokenization_spaces", false);
  auto special_id = [&](const char* name) -> std::optional<TokenId> {
    const auto text = token_text(config.value(name, json()));
    if (!text) return std::nullopt;
    const auto it = impl.token_ids.find(*text);
    if (it == impl.token_ids.end()) {
      throw Error(ErrorCode::kInvalidFile,
                  fmt::format("{}: {} {:?} is not a token of {}", path, name, *text, impl.origin));
    }
    return it->second;
  };
  impl.bos = special_id("bos_token");
  impl.eos = special_id("eos_token");
  impl.pad = special_id("pad_token");

  const json& source = config.value("chat_template", json());
  std::optional<std::string> template_text;
  if (source.is_string()) {
    template_text = source.get<std::string>();
  } else if (source.is_array()) {
    for (const json& named : source) {
      if (named.value("name", "") == "default" && named.contains("template")) {
        template_text = named["template"].get<std::string>();
      }
    }
  }
  if (!template_text) {
    impl.chat_template_error = fmt::format("{} has no chat_template", path);
    return;
  }
  try {
    // transformers hands the template the special tokens' text.
    ChatSpecialTokens tokens;
    tokens.bos_token = token_text(config.value("bos_token", json())).value_or("");
    tokens.eos_token = token_text(config.value("eos_token", json())).value_or("");
    tokens.unk_token = token_text(config.value("unk_token", json())).value_or("");
    tokens.pad_token = token_text(config.value("pad_token", json())).value_or("");
    impl.chat_template = ChatTemplate::from_source(*template_text, path + " chat_template", tokens);
  } catch (const Error& e) {
    impl.chat_template_error = e.what();
  }
}

}  // namespace

std::shared_ptr<Tokenizer::Impl> load_tokenizer(const std::string& tokenizer_json,
                                                const std::string& tokenizer_config_json) {
  auto impl = std::make_shared<Tokenizer::Impl>();
  impl->origin = tokenizer_json;
  const json root = read_json(tokenizer_json);
  if (!root.is_object())
    throw Error(ErrorCode::kInvalidFile, fmt::format("{}: not an object", tokenizer_json));
  Loader(*impl, root).load();
  if (!tokenizer_config_json.empty()) {
    load_config(*impl, tokenizer_config_json);
  } else {
    impl->chat_template_error =
        fmt::format("no tokenizer_config.json was given with {}", tokenizer_json);
  }
  return impl;
}

}  // namespace mimo::tokenizer
