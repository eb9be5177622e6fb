// The pipeline parts of tokenizer.json: normalizer, pre_tokenizer, decoder, post_processor.
// Each is read through JsonField (types checked, paths named); Sequences recurse by reference
// with their depth and length bounded (kMaxSequenceDepth, kMaxSequenceSteps).
#include <fmt/format.h>

#include "tokenizer/loader_parts.hpp"

namespace mimo::tokenizer {

namespace {

// GPT-2's pattern, which ByteLevel(use_regex = true) applies.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Calls `each` on every element of the Sequence's `list` member, one level deeper.
template <typename Each>
void for_each_in_sequence(const JsonField& sequence, const char* list, int depth, Each&& each) {
  if (depth >= kMaxSequenceDepth) {
    sequence.fail(ErrorCode::kInvalidFile,
                  fmt::format("Sequence nested deeper than {} levels", kMaxSequenceDepth));
  }
  const JsonField items = sequence.required(list);
  if (items.array().size() > kMaxSequenceSteps) {
    items.fail(ErrorCode::kInvalidFile, fmt::format("{} steps in one Sequence (at most {})",
                                                    items.array().size(), kMaxSequenceSteps));
  }
  for (std::size_t i = 0, n = items.array().size(); i < n; ++i) each(items.element(i), depth + 1);
}

void load_normalizer(Tokenizer::Impl& impl, const JsonField& normalizer, int depth) {
  if (normalizer.is_null()) return;
  const std::string type = normalizer.required("type").string();
  if (type == "NFC") {
    impl.normalize_nfc = true;
  } else if (type == "Sequence") {
    for_each_in_sequence(normalizer, "normalizers", depth,
                         [&](const JsonField& inner, int d) { load_normalizer(impl, inner, d); });
  } else {
    normalizer.fail(ErrorCode::kUnsupported, fmt::format("type {:?} (only NFC, Sequence)", type));
  }
}

std::string quote_literal(const std::string& text) {
  return "\\Q" + text + "\\E";
}

void load_split(Tokenizer::Impl& impl, const JsonField& split) {
  const JsonField pattern = split.required("pattern");
  std::string regex;
  if (pattern.has("Regex")) {
    regex = pattern.member("Regex").string();
  } else if (pattern.has("String")) {
    regex = quote_literal(pattern.member("String").string());
  } else {
    pattern.fail(ErrorCode::kInvalidFile, "expected an object with \"Regex\" or \"String\"");
  }
  const std::string behavior = split.string_or("behavior", "Isolated");
  SplitBehavior split_behavior = SplitBehavior::kIsolated;
  if (behavior == "Removed") {
    split_behavior = SplitBehavior::kRemoved;
  } else if (behavior != "Isolated") {
    split.fail(ErrorCode::kUnsupported,
               fmt::format("behavior {:?} (Isolated or Removed)", behavior));
  }
  if (split.bool_or("invert", false)) split.fail(ErrorCode::kUnsupported, "invert");
  impl.splitters.push_back(std::make_unique<RegexSplitter>(
      regex, split_behavior, fmt::format("{} {}", impl.origin, split.path())));
}

void load_pre_tokenizer(Tokenizer::Impl& impl, const JsonField& pre, int depth) {
  if (pre.is_null()) return;
  const std::string type = pre.required("type").string();
  if (type == "Sequence") {
    for_each_in_sequence(pre, "pretokenizers", depth, [&](const JsonField& inner, int d) {
      load_pre_tokenizer(impl, inner, d);
    });
  } else if (type == "Split") {
    load_split(impl, pre);
  } else if (type == "ByteLevel") {
    // Bytes become byte-level characters inside the BPE model; only the options matter here.
    impl.add_prefix_space = pre.bool_or("add_prefix_space", false);
    if (pre.bool_or("use_regex", true)) {
      impl.splitters.push_back(std::make_unique<RegexSplitter>(
          kGpt2Pattern, SplitBehavior::kIsolated, fmt::format("{} {}", impl.origin, pre.path())));
    }
  } else {
    pre.fail(ErrorCode::kUnsupported,
             fmt::format("type {:?} (Sequence, Split and ByteLevel are supported)", type));
  }
}

void check_decoder(const JsonField& decoder, int depth) {
  if (decoder.is_null()) return;
  const std::string type = decoder.required("type").string();
  if (type == "Sequence") {
    for_each_in_sequence(decoder, "decoders", depth,
                         [&](const JsonField& inner, int d) { check_decoder(inner, d); });
  } else if (type != "ByteLevel") {
    decoder.fail(ErrorCode::kUnsupported, fmt::format("type {:?} (only ByteLevel)", type));
  }
}

// TemplateProcessing's `single` template: the ids of its special tokens before and after the
// sequence, each checked to be a token of the vocabulary.
void load_template(Tokenizer::Impl& impl, const JsonField& post) {
  const JsonField single = post.required("single");
  const JsonField specials = post.required("special_tokens");
  specials.object();
  bool after_sequence = false;
  for (std::size_t i = 0, n = single.array().size(); i < n; ++i) {
    const JsonField item = single.element(i);
    if (item.has("Sequence")) {
      after_sequence = true;
      continue;
    }
    if (!item.has("SpecialToken")) {
      item.fail(ErrorCode::kInvalidFile, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
    const std::string& name = item.member("SpecialToken").required("id").string();
    if (!specials.has(name.c_str())) {
      item.fail(ErrorCode::kInvalidFile,
                fmt::format("special token {:?} is not in {}", name, specials.path()));
    }
    const JsonField ids = specials.member(name.c_str()).required("ids");
    for (std::size_t k = 0, m = ids.array().size(); k < m; ++k) {
      const JsonField id_field = ids.element(k);
      const TokenId id = id_field.token_id();
      if (static_cast<std::size_t>(id) >= impl.present.size() || !impl.present[id]) {
        id_field.fail(ErrorCode::kInvalidFile,
                      fmt::format("id {} is not a token of the vocabulary (size {})", id,
                                  impl.present.size()));
      }
      (after_sequence ? impl.suffix_ids : impl.prefix_ids).push_back(id);
    }
  }
}

void load_post_processor(Tokenizer::Impl& impl, const JsonField& post, int depth) {
  if (post.is_null()) return;
  const std::string type = post.required("type").string();
  if (type == "ByteLevel") return;
  if (type == "Sequence") {
    for_each_in_sequence(post, "processors", depth, [&](const JsonField& inner, int d) {
      load_post_processor(impl, inner, d);
    });
  } else if (type == "TemplateProcessing") {
    load_template(impl, post);
  } else {
    post.fail(ErrorCode::kUnsupported,
              fmt::format("type {:?} (ByteLevel, TemplateProcessing or Sequence)", type));
  }
}

}  // namespace

void load_pipeline(Tokenizer::Impl& impl, const JsonField& root) {
  load_normalizer(impl, root.member("normalizer"), 0);
  load_pre_tokenizer(impl, root.member("pre_tokenizer"), 0);
  check_decoder(root.member("decoder"), 0);
  load_post_processor(impl, root.member("post_processor"), 0);
}

}  // namespace mimo::tokenizer
