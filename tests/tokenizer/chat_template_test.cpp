// ChatTemplate: recognition of ChatML templates, rendering, and the refusal of others.
#include "mimo/chat_template.hpp"

#include "mimo/error.hpp"
#include "support/catch.hpp"
#include "tiny_tokenizer.hpp"

using mimo::ChatMessage;
using mimo::ChatTemplate;

TEST_CASE("the fixture's ChatML template renders turns and the generation prompt") {
  const mimo::Tokenizer& tok = mimo::test::tiny_tokenizer();
  const std::vector<ChatMessage> chat = {{"system", "Be brief.", {}}, {"user", "Hi", {}}};
  CHECK(tok.apply_chat_template(chat) ==
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\n");
  mimo::ChatTemplateOptions no_prompt;
  no_prompt.add_generation_prompt = false;
  CHECK(tok.apply_chat_template(chat, no_prompt) ==
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
  const auto ids = tok.encode(tok.apply_chat_template(chat));
  CHECK(ids.front() == *tok.token_to_id("<|im_start|>"));
}

TEST_CASE("a literal default system prompt is found in the template") {
  const std::string source =
      "{%- if messages[0]['role'] != 'system' %}{{- '<|im_start|>system\\nYou are "
      "MiMo.<|im_end|>\\n' "
      "}}{%- endif %}{%- for m in messages %}{{- '<|im_start|>' + m.role + '\\n' + m.content + "
      "'<|im_end|>\\n' }}{%- endfor %}";
  const ChatTemplate chat = ChatTemplate::from_source(source, "test");
  CHECK(chat.default_system() == "You are MiMo.");
  CHECK(chat.render({{"user", "x", {}}}, {false, {}}) ==
        "<|im_start|>system\nYou are MiMo.<|im_end|>\n<|im_start|>user\nx<|im_end|>\n");
}

TEST_CASE("thinking templates keep reasoning only after the last user query") {
  const ChatTemplate chat = ChatTemplate::from_source(
      "<|im_start|> <|im_end|> {{ '</think>' }} reasoning_content", "test");
  CHECK(chat.style() == mimo::ChatTemplateStyle::kChatMLThinking);
  const std::vector<ChatMessage> turns = {{"user", "a", {}},
                                          {"assistant", "<think>old</think>x", {}},
                                          {"user", "b", {}},
                                          {"assistant", "y", std::string("new")}};
  CHECK(chat.render(turns, {false, {}}) ==
        "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nx<|im_end|>\n"
        "<|im_start|>user\nb<|im_end|>\n<|im_start|>assistant\n<think>\nnew\n</"
        "think>\n\ny<|im_end|>\n");
  CHECK(chat.render({{"user", "q", {}}}, {true, false}) ==
        "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
  CHECK_THROWS_AS(chat.render({{"narrator", "q", {}}}), mimo::Error);
}

TEST_CASE("non-ChatML templates are refused, naming where they came from") {
  const std::string llama3 =
      "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n"
      "{{ m.content }}<|eot_id|>{% endfor %}";
  try {
    ChatTemplate::from_source(llama3, "model/tokenizer_config.json chat_template");
    FAIL("expected kUnsupported");
  } catch (const mimo::Error& e) {
    CHECK(e.code() == mimo::ErrorCode::kUnsupported);
    CHECK(std::string(e.what()).find("model/tokenizer_config.json") != std::string::npos);
  }
  CHECK_THROWS_AS(ChatTemplate::chatml().render({}), mimo::Error);
}
