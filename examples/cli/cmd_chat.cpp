// `mimo-cli chat -m DIR`: interactive multi-turn chat using the model's chat template. The KV
// cache is reused across turns (only the new part of the rendered conversation is prefilled).
// Ctrl-C while the model answers interrupts the answer; Ctrl-C or Ctrl-D at the prompt exits.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "cli/commands.hpp"
#include "cli/model_loading.hpp"
#include "mimo/error.hpp"
#include "mimo/tokenizer.hpp"

namespace mimo::cli {

namespace {

std::atomic<Session*> g_answering{nullptr};

void interrupt_answer(int) {
  if (Session* session = g_answering.load()) session->cancel();
}

struct ChatFlags {
  ModelFlags model;
  SamplerConfig sampling;
  int max_tokens = 512;
  std::string system;
  bool ignore_eos = false;
};

// Tokens shared by the cached context and the newly rendered conversation.
std::size_t common_prefix(const std::vector<std::int32_t>& a, const std::vector<std::int32_t>& b) {
  std::size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

std::string answer(Session& session, const Tokenizer& tokenizer, Sampler& sampler,
                   const std::vector<std::int32_t>& conversation, const ChatFlags& flags) {
  const std::size_t keep = common_prefix(session.tokens(), conversation);
  // At least one token is prefilled so there are logits to sample from.
  const std::size_t reuse = std::min(keep, conversation.size() - 1);
  session.rewind(session.position() - static_cast<std::int64_t>(reuse));
  std::vector<std::int32_t> fresh(conversation.begin() + static_cast<std::ptrdiff_t>(reuse),
                                  conversation.end());
  GenerateOptions options;
  options.max_tokens = flags.max_tokens;
  options.ignore_eos = flags.ignore_eos;
  if (auto eos = tokenizer.eos_id(); eos && !flags.ignore_eos) options.stop_token_ids = {*eos};
  TokenStreamDecoder stream(tokenizer);
  std::string reply;
  g_answering = &session;
  std::signal(SIGINT, interrupt_answer);
  GenerateResult result =
      session.generate(fresh, sampler, options, [&](const SampleResult& sampled) {
        StreamText piece = stream.push(sampled.token);
        reply += piece.text;
        std::fputs(piece.text.c_str(), stdout);
        std::fflush(stdout);
        return true;
      });
  std::signal(SIGINT, SIG_DFL);
  g_answering = nullptr;
  StreamText rest = stream.flush();
  reply += rest.text;
  std::fputs(rest.text.c_str(), stdout);
  std::fputs(result.reason == StopReason::kCancelled ? " [interrupted]\n" : "\n", stdout);
  print_stats(session.stats());
  return reply;
}

int run_chat(const ChatFlags& flags) {
  Tokenizer tokenizer = Tokenizer::from_model_dir(flags.model.model_dir);
  if (!tokenizer.has_chat_template()) {
    throw std::runtime_error(
        fmt::format("{}: tokenizer_config.json has no chat template", flags.model.model_dir));
  }
  auto model = load_model(flags.model);
  auto session = model->new_session();
  Sampler sampler(flags.sampling);
  std::vector<ChatMessage> messages;
  if (!flags.system.empty()) messages.push_back({"system", flags.system, std::nullopt});
  std::fprintf(stderr, "chat with %s - Ctrl-D or /quit to leave, /reset to start over\n",
               flags.model.model_dir.c_str());
  std::string line;
  while (true) {
    std::fputs("> ", stdout);
    std::fflush(stdout);
    if (!std::getline(std::cin, line)) {
      std::fputs("\n", stdout);
      return 0;
    }
    if (line == "/quit" || line == "/exit") return 0;
    if (line == "/reset") {
      session->reset();
      messages.resize(flags.system.empty() ? 0 : 1);
      continue;
    }
    if (line.empty()) continue;
    messages.push_back({"user", line, std::nullopt});
    const std::vector<std::int32_t> conversation =
        tokenizer.encode(tokenizer.apply_chat_template(messages), false);
    if (conversation.empty()) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{}: the chat template rendered the conversation as no tokens",
                              flags.model.model_dir));
    }
    messages.push_back(
        {"assistant", answer(*session, tokenizer, sampler, conversation, flags), std::nullopt});
  }
}

}  // namespace

Command register_chat(CLI::App& app) {
  auto* sub = app.add_subcommand("chat", "Interactive multi-turn chat using the chat template");
  auto flags = std::make_shared<ChatFlags>();
  add_model_flags(*sub, flags->model);
  add_sampling_flags(*sub, flags->sampling, flags->max_tokens);
  sub->add_option("--system", flags->system, "system prompt");
  sub->add_flag("--ignore-eos", flags->ignore_eos, "answers end only at -n tokens or Ctrl-C");
  return {sub, [flags] { return run_chat(*flags); }};
}

}  // namespace mimo::cli
