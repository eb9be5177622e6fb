// Conformance comparator: checks mimo::Tokenizer and mimo::ChatTemplate against the results the
// JS references wrote (expected.mjs): ids id for id, decodes, decodes of id prefixes, the
// stream decoder, and chat template renderings. Prints every mismatch; exit 1 on any.
// usage: mimo_tokenizer_conformance corpus.json expected_tokens.json expected_chat.json
#include <fmt/format.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "mimo/chat_template.hpp"
#include "mimo/error.hpp"
#include "mimo/tokenizer.hpp"

namespace {

using nlohmann::json;

json read_json(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot open " + path);
  std::stringstream buffer;
  buffer << file.rdbuf();
  return json::parse(buffer.str());
}

std::string case_bytes(const json& entry) {
  std::string one;
  if (entry.contains("hex")) {
    const std::string hex = entry["hex"];
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
      one.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    }
  } else {
    one = entry["text"].get<std::string>();
  }
  std::string all;
  for (int i = 0, n = entry.value("repeat", 1); i < n; ++i) all += one;
  return all;
}

struct Report {
  int checks = 0;
  int failures = 0;
  void check(bool ok, const std::string& what) {
    ++checks;
    if (!ok) {
      ++failures;
      fmt::print("MISMATCH {}\n", what);
    }
  }
};

std::string describe_ids(const mimo::Tokenizer& tok, const std::vector<mimo::TokenId>& ids,
                         std::size_t from) {
  std::string out;
  for (std::size_t i = from; i < ids.size() && i < from + 6; ++i) {
    out += fmt::format("{}({:?}) ", ids[i], tok.id_to_token(ids[i]).value_or("?"));
  }
  return out;
}

void compare_tokens(const json& corpus, const json& expected, Report& report) {
  const std::string model_dir = expected["model_dir"];
  const mimo::Tokenizer tok = mimo::Tokenizer::from_model_dir(model_dir);
  const json& cases = expected["cases"];
  for (std::size_t c = 0; c < corpus.size(); ++c) {
    const json& entry = corpus[c];
    const json& want = cases[c];
    const std::string name = entry["name"];
    const std::vector<mimo::TokenId> ids = tok.encode(case_bytes(entry));
    const auto want_ids = want["ids"].get<std::vector<mimo::TokenId>>();
    std::size_t diverge = 0;
    while (diverge < ids.size() && diverge < want_ids.size() && ids[diverge] == want_ids[diverge]) {
      ++diverge;
    }
    report.check(
        ids == want_ids,
        fmt::format("{}: encode differs at token {} (mimo {} tokens, js {}): mimo {} | js {}", name,
                    diverge, ids.size(), want_ids.size(), describe_ids(tok, ids, diverge),
                    describe_ids(tok, want_ids, diverge)));
    const std::string decoded = tok.decode(want_ids);
    report.check(decoded == want["decoded"].get<std::string>(),
                 fmt::format("{}: decode {:?} vs js {:?}", name, decoded,
                             want["decoded"].get<std::string>()));
    const std::string skipped = tok.decode(want_ids, true);
    report.check(skipped == want["decoded_skip_special"].get<std::string>(),
                 fmt::format("{}: decode(skip_special) {:?} vs js {:?}", name, skipped,
                             want["decoded_skip_special"].get<std::string>()));
    if (want.contains("prefix_decodes")) {
      const auto& prefixes = want["prefix_decodes"];
      for (std::size_t k = 0; k < prefixes.size(); ++k) {
        std::vector<mimo::TokenId> prefix(want_ids.begin(), want_ids.begin() + k + 1);
        const std::string got = tok.decode(prefix);
        report.check(got == prefixes[k].get<std::string>(),
                     fmt::format("{}: decode of first {} ids {:?} vs js {:?}", name, k + 1, got,
                                 prefixes[k].get<std::string>()));
      }
    }
    // Streaming the same ids must give the same text, piece by piece.
    mimo::TokenStreamDecoder stream(tok);
    std::string streamed;
    for (mimo::TokenId id : want_ids) streamed += stream.push(id).text;
    streamed += stream.flush().text;
    report.check(streamed == skipped,
                 fmt::format("{}: stream decoder {:?} vs decode {:?}", name, streamed, skipped));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    fmt::print(stderr, "usage: {} corpus.json chats.json expected_tokens.json expected_chat.json\n",
               argv[0]);
    return 2;
  }
  try {
    Report report;
    compare_tokens(read_json(argv[1]), read_json(argv[3]), report);
    const json chats = read_json(argv[2]);
    const json expected_chat = read_json(argv[4]);
    std::map<std::string, std::vector<mimo::ChatMessage>> conversations;
    for (const json& conversation : chats["conversations"]) {
      std::vector<mimo::ChatMessage> messages;
      for (const json& m : conversation["messages"]) {
        mimo::ChatMessage message{m["role"], m["content"], std::nullopt};
        if (m.contains("reasoning_content"))
          message.reasoning_content = m["reasoning_content"].get<std::string>();
        messages.push_back(std::move(message));
      }
      conversations[conversation["name"]] = std::move(messages);
    }
    for (const json& r : expected_chat["rendered"]) {
      const std::string template_name = r["template"];
      const mimo::ChatTemplate chat = mimo::ChatTemplate::from_source(
          expected_chat["templates"][template_name].get<std::string>(), template_name);
      mimo::ChatTemplateOptions options;
      options.add_generation_prompt = r["add_generation_prompt"];
      if (!r["enable_thinking"].is_null())
        options.enable_thinking = r["enable_thinking"].get<bool>();
      const std::string got = chat.render(conversations.at(r["conversation"]), options);
      report.check(got == r["text"].get<std::string>(),
                   fmt::format("chat {}/{} (generation prompt {}, thinking {}): {:?} vs jinja {:?}",
                               template_name, r["conversation"].get<std::string>(),
                               options.add_generation_prompt, r["enable_thinking"].dump(), got,
                               r["text"].get<std::string>()));
    }
    fmt::print("{} checks, {} mismatches\n", report.checks, report.failures);
    return report.failures == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
