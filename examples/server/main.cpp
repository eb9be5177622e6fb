// mimo-server: an OpenAI-compatible HTTP server on libmimo's public API (docs/server.md).
//   mimo-server [-m DIR] [--draft DIR] [--host 127.0.0.1] [--port 8080] [--api-key KEY] ...
// SIGINT / SIGTERM shut it down gracefully: running requests finish (within --shutdown-grace),
// new ones get 503.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "cli/default_paths.hpp"
#include "cli/model_loading.hpp"
#include "cli/number_flags.hpp"
#include "mimo/error.hpp"
#include "mimo/tokenizer.hpp"
#include "mimo/version.hpp"
#include "server/http_server.hpp"

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace mimo;
  CLI::App app{"mimo-server: OpenAI-compatible HTTP server for MiMo-V2 models"};
  app.set_version_flag("--version", version());
  cli::ModelFlags model_flags;
  cli::add_model_flags(app, model_flags);
  server::HttpOptions http;
  server::ServedModel::Options served;
  std::string draft;
  std::string chat_template_file;
  int shutdown_grace = 10;
  app.add_option("--draft", draft,
                 "DFlash drafter directory: speculative decoding for every request "
                 "('demo': the shipped demo drafter)");
  cli::add_number_option(app, "--draft-block", served.draft_block,
                         "tokens per verify block (1 + drafts; 0 = the drafter's)");
  app.add_flag("--lookup-first", served.lookup_first,
               "with --draft: each step a prompt lookup, the drafter or a plain step, whichever "
               "measured worth most (make_lookup_first_speculator)");
  app.add_option("--served-model-name", served.name,
                 "the model id clients pass (default: the checkpoint directory's name)");
  app.add_option("--chat-template", chat_template_file,
                 "Jinja chat template file used instead of the tokenizer's");
  std::int64_t template_time = -1;
  cli::add_number_option(app, "--chat-template-time", template_time,
                         "seconds since the epoch: the clock strftime_now() reads in the chat "
                         "template (shown in the TZ time zone), for reproducible prompts");
  app.add_option("--host", http.host, "address to listen on")->capture_default_str();
  cli::add_number_option(app, "--port", http.port, "port (0 = any free port)")
      ->capture_default_str();
  app.add_option("--api-key", http.api_key,
                 "require 'Authorization: Bearer KEY' on /v1/* ($MIMO_API_KEY)")
      ->envname("MIMO_API_KEY");
  cli::add_number_option(app, "--parallel", http.slots,
                         "generations in progress at once (one session each)")
      ->capture_default_str();
  cli::add_number_option(app, "--prefix-cache", served.prefix_cache,
                         "finished sessions (each a KV cache of --context tokens) kept so that a "
                         "prompt starting with one's context prefills only the rest (0 = off)")
      ->capture_default_str();
  cli::add_number_option(app, "--queue", http.max_waiting,
                         "requests that may wait for a slot; more get 429")
      ->capture_default_str();
  cli::add_number_option(app, "--max-body", http.max_body_bytes, "request body limit in bytes")
      ->capture_default_str();
  cli::add_number_option(app, "--shutdown-grace", shutdown_grace,
                         "seconds running requests get to finish on SIGINT / SIGTERM")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (http.slots < 1 || http.max_waiting < 0 || http.port < 0 || http.port > 65535 ||
      shutdown_grace < 0 || served.prefix_cache < 0) {
    std::fprintf(stderr,
                 "error: --parallel must be >= 1, --queue, --prefix-cache and --shutdown-grace "
                 ">= 0, "
                 "--port in [0, 65535]\n");
    return 2;
  }
  if (served.lookup_first && draft.empty()) {
    std::fprintf(stderr, "error: --lookup-first needs --draft (the drafter it falls back to)\n");
    return 2;
  }
  http.shutdown_grace = std::chrono::seconds(shutdown_grace);
  served.slots = http.slots;
  if (template_time >= 0) served.template_now = template_time;
  served.drafter_dir = draft == "demo" ? cli::default_drafter_dir() : draft;

  // SIGINT / SIGTERM are taken by one thread (sigwait); every other thread blocks them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  try {
    if (served.name.empty()) {
      served.name = std::filesystem::path(model_flags.model_dir).lexically_normal().filename();
      if (served.name.empty()) served.name = "mimo";
    }
    if (!chat_template_file.empty()) served.template_source = read_file(chat_template_file);
    Tokenizer tokenizer = Tokenizer::from_model_dir(model_flags.model_dir);
    auto model = cli::load_model(model_flags);
    server::ServedModel served_model(model, tokenizer, served);
    if (served_model.speculative()) served_model.speculator(0);  // a bad drafter fails now
    std::fprintf(stderr,
                 "mimo-server: %s on %s, context %lld, %d parallel, queue %d, prefix cache %d, "
                 "speculative %s, tool calls %s\n",
                 model_flags.model_dir.c_str(), model->summary().device.c_str(),
                 static_cast<long long>(model->summary().max_context), http.slots, http.max_waiting,
                 served.prefix_cache,
                 served_model.speculative() ? served.drafter_dir.c_str() : "off",
                 server::to_string(served_model.tool_format()));
    server::HttpServer server(served_model, http);
    std::thread signal_waiter([&] {
      int signal = 0;
      sigwait(&signals, &signal);
      server.shut_down();
    });
    const bool ok = server.run();
    if (!ok) {
      std::fprintf(stderr, "error: cannot listen on %s:%d\n", http.host.c_str(), http.port);
      pthread_kill(signal_waiter.native_handle(), SIGTERM);
      signal_waiter.join();
      return 1;
    }
    signal_waiter.join();
    std::fprintf(stderr, "mimo-server: stopped\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
