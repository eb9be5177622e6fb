// Hostile tokenizer.json / tokenizer_config.json files (issue 21): deep Sequences, wrong JSON
// types, out-of-range and colliding ids, bad post-processor ids. Each is a clean mimo::Error
// naming the file and the JSON path, never a crash, a raw nlohmann exception or a silent
// truncation.
#include <chrono>
#include <string>

#include "edited_fixture.hpp"
#include "support/catch.hpp"

using mimo::ErrorCode;
using mimo::Tokenizer;
using mimo::test::EditedFixture;
using mimo::test::tokenizer_load_error;
using nlohmann::json;

namespace {

// `error` is a mimo::Error of `code` whose message names `file` and contains `text`.
void check_error(const std::optional<mimo::Error>& error, ErrorCode code, const std::string& file,
                 const std::string& text) {
  REQUIRE(error.has_value());
  INFO(error->what());
  CHECK(error->code() == code);
  CHECK(std::string(error->what()).find(file) != std::string::npos);
  CHECK(std::string(error->what()).find(text) != std::string::npos);
}

void check_tokenizer_json_error(const std::function<void(json&)>& edit, ErrorCode code,
                                const std::string& text) {
  EditedFixture fixture(edit);
  check_error(tokenizer_load_error(fixture.dir.string()), code, fixture.json_path(), text);
}

void check_config_error(const std::function<void(json&)>& edit, const std::string& text) {
  EditedFixture fixture([](json&) {}, edit);
  check_error(tokenizer_load_error(fixture.dir.string()), ErrorCode::kInvalidFile,
              fixture.config_path(), text);
}

// A Sequence of `stage` nested `depth` times around `leaf`.
json nest(const std::string& list, json leaf, int depth) {
  for (int i = 0; i < depth; ++i) leaf = json{{"type", "Sequence"}, {list, json::array({leaf})}};
  return leaf;
}

json byte_level() {
  return json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
}

}  // namespace

TEST_CASE("deeply nested Sequences are refused quickly, naming the path") {
  const auto start = std::chrono::steady_clock::now();
  // Deeper than the JSON nesting limit: refused while parsing (this used to overflow the stack).
  {
    EditedFixture deep([](json& root) { root["pre_tokenizer"] = "DEEP"; });
    std::string nested;
    for (int i = 0; i < 100000; ++i) nested += R"({"type":"Sequence","pretokenizers":[)";
    nested += byte_level().dump();
    for (int i = 0; i < 100000; ++i) nested += "]}";
    deep.replace_in_json("\"DEEP\"", nested);
    check_error(tokenizer_load_error(deep.dir.string()), ErrorCode::kInvalidFile, deep.json_path(),
                "nested deeper");
  }
  // Within the JSON limit but past the Sequence limit: each stage names its own path.
  const std::pair<const char*, const char*> stages[] = {{"normalizer", "normalizers"},
                                                        {"pre_tokenizer", "pretokenizers"},
                                                        {"decoder", "decoders"},
                                                        {"post_processor", "processors"}};
  for (const auto& [stage, list] : stages) {
    const json leaf = std::string(stage) == "normalizer" ? json{{"type", "NFC"}} : byte_level();
    check_tokenizer_json_error(
        [&, stage = stage, list = list](json& root) { root[stage] = nest(list, leaf, 25); },
        ErrorCode::kInvalidFile, std::string(stage) + "." + list + "[0]." + list + "[0]");
  }
  // Wide instead of deep: each ByteLevel step would compile a regex, on every load.
  check_tokenizer_json_error(
      [](json& root) {
        root["pre_tokenizer"]["pretokenizers"] = json::array();
        for (int i = 0; i < 1000; ++i)
          root["pre_tokenizer"]["pretokenizers"].push_back(byte_level());
      },
      ErrorCode::kInvalidFile, "pre_tokenizer.pretokenizers: 1000 steps in one Sequence");
  // Nesting within the limit still loads and behaves like the flat stage.
  EditedFixture nested([](json& root) {
    root["pre_tokenizer"]["pretokenizers"][0] =
        nest("pretokenizers", root["pre_tokenizer"]["pretokenizers"][0], 10);
  });
  const Tokenizer tok = Tokenizer::from_model_dir(nested.dir.string());
  CHECK(tok.encode("Hello, world!") == mimo::test::tiny_tokenizer().encode("Hello, world!"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
}

TEST_CASE("wrong JSON types name the file, the JSON path and what was expected") {
  check_tokenizer_json_error([](json& root) { root["added_tokens"][2]["id"] = "412"; },
                             ErrorCode::kInvalidFile, "added_tokens[2].id: expected a token id");
  check_tokenizer_json_error([](json& root) { root["added_tokens"][0]["special"] = "yes"; },
                             ErrorCode::kInvalidFile, "added_tokens[0].special: expected true");
  check_tokenizer_json_error([](json& root) { root["added_tokens"][1]["content"] = 5; },
                             ErrorCode::kInvalidFile, "added_tokens[1].content: expected a string");
  check_tokenizer_json_error([](json& root) { root["added_tokens"] = json::object(); },
                             ErrorCode::kInvalidFile, "added_tokens: expected an array");
  check_tokenizer_json_error([](json& root) { root["model"]["vocab"] = json::array(); },
                             ErrorCode::kInvalidFile, "model.vocab: expected an object");
  check_tokenizer_json_error([](json& root) { root["model"]["vocab"]["a"] = "97"; },
                             ErrorCode::kInvalidFile, "model.vocab[\"a\"]: expected a token id");
  check_tokenizer_json_error([](json& root) { root["model"]["merges"][3] = 7; },
                             ErrorCode::kInvalidFile, "model.merges[3]: expected \"a b\"");
  check_tokenizer_json_error(
      [](json& root) {
        root["model"]["merges"][1] = json::array({"a", 2});
      },
      ErrorCode::kInvalidFile, "model.merges[1][1]: expected a string");
  check_tokenizer_json_error([](json& root) { root["model"]["ignore_merges"] = 1; },
                             ErrorCode::kInvalidFile, "model.ignore_merges: expected true");
  check_tokenizer_json_error([](json& root) { root["normalizer"]["type"] = 5; },
                             ErrorCode::kInvalidFile, "normalizer.type: expected a string");
  check_tokenizer_json_error(
      [](json& root) { root["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = 7; },
      ErrorCode::kInvalidFile, "pre_tokenizer.pretokenizers[0].pattern.Regex: expected a string");
  check_tokenizer_json_error(
      [](json& root) { root["pre_tokenizer"]["pretokenizers"] = "ByteLevel"; },
      ErrorCode::kInvalidFile, "pre_tokenizer.pretokenizers: expected an array");
  check_tokenizer_json_error([](json& root) { root["decoder"] = json::array(); },
                             ErrorCode::kInvalidFile, "decoder: expected an object");
  check_tokenizer_json_error([](json& root) { root["model"] = 3; }, ErrorCode::kInvalidFile,
                             "model: expected an object");
  check_config_error([](json& config) { config["eos_token"] = 151645; },
                     "eos_token: expected a string or {\"content\": string}");
  check_config_error(
      [](json& config) {
        config["eos_token"] = json{{"content", true}};
      },
      "eos_token.content: expected a string");
  check_config_error([](json& config) { config["clean_up_tokenization_spaces"] = "no"; },
                     "clean_up_tokenization_spaces: expected true or false");
  check_config_error([](json& config) { config["chat_template"] = 5; },
                     "chat_template: expected a string or a list of {\"name\", \"template\"}, "
                     "found number");
  check_config_error(
      [](json& config) {
        config["chat_template"] = json::array({json{{"name", 1}}});
      },
      "chat_template[0].name: expected a string");
}

TEST_CASE("token ids out of range are refused, never truncated") {
  // 2^32 + 97 used to become 97 after truncation to int32.
  check_tokenizer_json_error([](json& root) { root["model"]["vocab"]["zzz"] = 4294967393ull; },
                             ErrorCode::kInvalidFile, "token id 4294967393 is beyond");
  check_tokenizer_json_error([](json& root) { root["model"]["vocab"]["zzz"] = 2147483648ull; },
                             ErrorCode::kInvalidFile, "beyond the largest id 2147483647");
  check_tokenizer_json_error([](json& root) { root["model"]["vocab"]["zzz"] = -3; },
                             ErrorCode::kInvalidFile,
                             "model.vocab[\"zzz\"]: token id -3 is negative");
  check_tokenizer_json_error([](json& root) { root["model"]["vocab"]["zzz"] = 12.5; },
                             ErrorCode::kInvalidFile, "found number 12.5");
  check_tokenizer_json_error([](json& root) { root["added_tokens"][0]["id"] = -1; },
                             ErrorCode::kInvalidFile, "added_tokens[0].id: token id -1");
  // A valid int32 id that would need gigabytes of tables for a 418-token file.
  check_tokenizer_json_error([](json& root) { root["added_tokens"][0]["id"] = 2000000000; },
                             ErrorCode::kInvalidFile,
                             "added_tokens[0].id: token id 2000000000 is "
                             "too large");
  // Two vocabulary tokens with one id: one of them could never be decoded.
  check_tokenizer_json_error([](json& root) { root["model"]["vocab"]["zzz"] = 97; },
                             ErrorCode::kInvalidFile, "model.vocab[\"zzz\"]: id 97 is already");
  // Gaps are fine: an id past the end just grows the vocabulary.
  EditedFixture gap([](json& root) { root["added_tokens"][0]["id"] = 5000; });
  CHECK(Tokenizer::from_model_dir(gap.dir.string()).vocab_size() == 5001);
}

TEST_CASE("added tokens that collide with the vocabulary or each other") {
  // An added token on a vocabulary id whose text differs.
  check_tokenizer_json_error([](json& root) { root["added_tokens"][0]["id"] = 65; },
                             ErrorCode::kInvalidFile,
                             "added_tokens[0]: id 65 of \"<|endoftext|>\" is already the id of "
                             "\"A\"");
  // A vocabulary token re-added under another id.
  check_tokenizer_json_error(
      [](json& root) {
        root["added_tokens"].push_back(json{{"id", 418}, {"content", "A"}, {"special", true}});
      },
      ErrorCode::kInvalidFile, "added_tokens[8]: \"A\" has id 418, but it is already token 65");
  // Two added tokens on one id.
  check_tokenizer_json_error(
      [](json& root) { root["added_tokens"][1]["id"] = root["added_tokens"][0]["id"]; },
      ErrorCode::kInvalidFile, "added_tokens[1]: id 410 of \"<|im_start|>\" is already the id");
  // Re-adding a vocabulary token under its own id (as Qwen's files do) or listing an added token
  // twice is fine: the token simply becomes an added token.
  EditedFixture same([](json& root) {
    root["added_tokens"].push_back(json{{"id", 65}, {"content", "A"}, {"special", true}});
    root["added_tokens"].push_back(root["added_tokens"][1]);
  });
  const Tokenizer tok = Tokenizer::from_model_dir(same.dir.string());
  CHECK(tok.is_special(65));
  CHECK(tok.vocab_size() == 418);
  CHECK(tok.encode("xAx<|im_start|>")[1] == 65);
  CHECK(tok.decode(tok.encode("bAb<|im_start|>"), true) == "bb");
}

TEST_CASE("post-processor special tokens are checked against the vocabulary") {
  auto with_template = [](json ids) {
    return [ids](json& root) {
      root["post_processor"] =
          json{{"type", "TemplateProcessing"},
               {"single", json::array({json{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                       json{{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                       json{{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}}})},
               {"special_tokens",
                {{"<s>", {{"id", "<s>"}, {"ids", ids}, {"tokens", json::array({"<s>"})}}},
                 {"</s>", {{"id", "</s>"}, {"ids", json::array({412})}, {"tokens", {"</s>"}}}}}}};
    };
  };
  EditedFixture valid(with_template(json::array({411})));
  const Tokenizer tok = Tokenizer::from_model_dir(valid.dir.string());
  const auto ids = tok.encode("hi");
  REQUIRE(ids.size() >= 3);
  CHECK(ids.front() == 411);
  CHECK(ids.back() == 412);
  check_tokenizer_json_error(with_template(json::array({999999})), ErrorCode::kInvalidFile,
                             "post_processor.special_tokens.<s>.ids[0]: id 999999 is not a token");
  check_tokenizer_json_error(with_template(json::array({-4})), ErrorCode::kInvalidFile,
                             "post_processor.special_tokens.<s>.ids[0]: token id -4 is negative");
  check_tokenizer_json_error(with_template(json::array({"411"})), ErrorCode::kInvalidFile,
                             "ids[0]: expected a token id");
  check_tokenizer_json_error(
      [&](json& root) {
        with_template(json::array({411}))(root);
        root["post_processor"]["special_tokens"].erase("</s>");
      },
      ErrorCode::kInvalidFile, "special token \"</s>\" is not in post_processor.special_tokens");
}

TEST_CASE("a catastrophically backtracking Split regex fails cleanly, not a hang") {
  EditedFixture fixture(
      [](json& root) { root["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(a+)+b"; });
  const Tokenizer tok = Tokenizer::from_model_dir(fixture.dir.string());
  CHECK(tok.decode(tok.encode("ab aab")) == "ab aab");  // ordinary texts still encode
  const auto start = std::chrono::steady_clock::now();
  try {
    tok.encode(std::string(40, 'a') + "cb");  // 2^40 ways to split the a's before failing
    FAIL("expected mimo::Error");
  } catch (const mimo::Error& e) {
    INFO(e.what());
    CHECK(e.code() == ErrorCode::kInvalidFile);
    CHECK(std::string(e.what()).find(fixture.json_path() + " pre_tokenizer.pretokenizers[0]") !=
          std::string::npos);
    CHECK(std::string(e.what()).find("match limit") != std::string::npos);
  }
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
}
