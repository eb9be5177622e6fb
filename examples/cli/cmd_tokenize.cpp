// `mimo-cli tokenize` / `mimo-cli detokenize`: text <-> token ids with a model's tokenizer.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <iterator>

#include "cli/commands.hpp"
#include "cli/default_paths.hpp"
#include "cli/token_file.hpp"
#include "mimo/error.hpp"
#include "mimo/tokenizer.hpp"

namespace mimo::cli {

namespace {

struct TokenizerSource {
  std::string model_dir;
  std::string tokenizer_file;
};

void add_source_options(CLI::App* sub, TokenizerSource& source) {
  auto* model = sub->add_option("-m,--model", source.model_dir,
                                "model directory holding tokenizer.json (+ tokenizer_config.json); "
                                "default: $MIMO_MODEL or the demo model");
  auto* file =
      sub->add_option("--tokenizer", source.tokenizer_file,
                      "a tokenizer.json file (tokenizer_config.json beside it is used too)");
  model->excludes(file);
  file->excludes(model);
}

Tokenizer load(const TokenizerSource& source) {
  if (!source.model_dir.empty()) return Tokenizer::from_model_dir(source.model_dir);
  if (source.tokenizer_file.empty()) return Tokenizer::from_model_dir(default_model_dir());
  const auto config =
      std::filesystem::path(source.tokenizer_file).parent_path() / "tokenizer_config.json";
  std::error_code ec;
  return Tokenizer::from_file(source.tokenizer_file,
                              std::filesystem::is_regular_file(config, ec) ? config.string() : "");
}

std::string read_input(const std::string* prompt) {
  if (prompt) return *prompt;
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

// A token's bytes shown readably: escapes for control characters, <0xNN> for bytes that are
// only part of a UTF-8 character.
std::string readable(const std::string& bytes) {
  std::string out;
  for (std::size_t i = 0; i < bytes.size();) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    const int len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    bool whole = len > 0 && i + len <= bytes.size();
    for (int k = 1; whole && k < len; ++k)
      whole = (static_cast<unsigned char>(bytes[i + k]) & 0xC0) == 0x80;
    if (!whole) {
      out += fmt::format("<0x{:02X}>", c);
      ++i;
    } else if (c == '\n') {
      out += "\\n", ++i;
    } else if (c == '\t') {
      out += "\\t", ++i;
    } else if (c == '\r') {
      out += "\\r", ++i;
    } else if (c < 0x20 || c == 0x7F) {
      out += fmt::format("\\x{:02x}", c), ++i;
    } else {
      out.append(bytes, i, len);
      i += len;
    }
  }
  return out;
}

int run_tokenize(const TokenizerSource& source, const std::string* prompt, bool ids_only,
                 bool add_special_tokens) {
  const Tokenizer tokenizer = load(source);
  const std::vector<TokenId> ids = tokenizer.encode(read_input(prompt), add_special_tokens);
  if (ids_only) {
    std::string line;
    for (std::size_t i = 0; i < ids.size(); ++i) line += fmt::format("{}{}", i ? " " : "", ids[i]);
    fmt::print("{}\n", line);
    return 0;
  }
  for (TokenId id : ids) {
    fmt::print("{:>8}  '{}'{}\n", id, readable(tokenizer.token_bytes(id)),
               tokenizer.is_special(id) ? "  (special)" : "");
  }
  fmt::print("{} tokens\n", ids.size());
  return 0;
}

// The ids of `text` (the token-list format of cli/token_file.hpp), each one the tokenizer knows.
std::vector<TokenId> parse_ids(const std::string& text, const Tokenizer& tokenizer) {
  const std::vector<TokenId> ids = parse_token_list(text, "detokenize input");
  for (const TokenId id : ids) {
    if (static_cast<std::size_t>(id) >= tokenizer.vocab_size() || !tokenizer.id_to_token(id)) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("token id {} is not in the vocabulary (ids 0..{})", id,
                              tokenizer.vocab_size() - 1));
    }
  }
  return ids;
}

int run_detokenize(const TokenizerSource& source, const std::string* prompt, bool skip_special) {
  const Tokenizer tokenizer = load(source);
  const std::vector<TokenId> ids = parse_ids(read_input(prompt), tokenizer);
  fmt::print("{}", tokenizer.decode(ids, skip_special));
  if (!prompt) std::cout.flush();
  return 0;
}

}  // namespace

Command register_tokenize(CLI::App& app) {
  auto* sub = app.add_subcommand("tokenize", "Text (from -p or stdin) to token ids");
  auto source = std::make_shared<TokenizerSource>();
  auto prompt = std::make_shared<std::string>();
  auto ids_only = std::make_shared<bool>(false);
  auto no_special = std::make_shared<bool>(false);
  add_source_options(sub, *source);
  auto* prompt_option =
      sub->add_option("-p,--prompt", *prompt, "text to tokenize (default: stdin)");
  sub->add_flag("--ids", *ids_only, "print only the ids, separated by spaces");
  sub->add_flag("--no-special", *no_special, "do not let the post-processor add special tokens");
  return {sub, [=] {
            return run_tokenize(*source, prompt_option->count() ? prompt.get() : nullptr, *ids_only,
                                !*no_special);
          }};
}

Command register_detokenize(CLI::App& app) {
  auto* sub = app.add_subcommand("detokenize", "Token ids (from -p or stdin) to text");
  auto source = std::make_shared<TokenizerSource>();
  auto prompt = std::make_shared<std::string>();
  auto skip_special = std::make_shared<bool>(false);
  add_source_options(sub, *source);
  auto* prompt_option =
      sub->add_option("-p,--prompt", *prompt, "ids separated by spaces or commas (default: stdin)");
  sub->add_flag("--skip-special", *skip_special, "leave out special tokens such as <|im_end|>");
  return {sub, [=] {
            return run_detokenize(*source, prompt_option->count() ? prompt.get() : nullptr,
                                  *skip_special);
          }};
}

}  // namespace mimo::cli
