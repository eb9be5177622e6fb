// API edge semantics from issue 21 on the tiny-bf16 fixture: cancel() while idle reaches no
// later call, generate never writes past max_context, NaN / infinity in the logits are reported
// with their position (with ModelOptions::check_activations, the layer and op that made them),
// and filesystem / allocation failures arrive as mimo::Error.
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>

#include "api/model_impl.hpp"
#include "errors/foreign_errors.hpp"
#include "exec/cpu_executor.hpp"
#include "mimo/checkpoint.hpp"
#include "mimo/error.hpp"
#include "mimo/model.hpp"
#include "mimo/session.hpp"
#include "mimo/tokenizer.hpp"
#include "support/catch.hpp"
#include "support/error_message.hpp"
#include "support/poisoned_model.hpp"

namespace fs = std::filesystem;
using mimo::ErrorCode;

namespace {

using mimo::testing::error_message;

const std::string kModel = std::string(MIMO_TEST_DATA_DIR) + "/models/tiny-bf16";

std::shared_ptr<const mimo::Model> load(const std::string& path, std::int64_t max_context) {
  mimo::ModelOptions options;
  options.device = mimo::Device::kCpu;
  options.max_context = max_context;
  options.max_step_tokens = 8;
  return mimo::Model::load(path, options);
}

mimo::GenerateOptions greedy_options(int max_tokens) {
  mimo::GenerateOptions options;
  options.max_tokens = max_tokens;
  options.ignore_eos = true;
  return options;
}

struct ScratchDir {
  fs::path path =
      fs::temp_directory_path() / ("mimo_api_" + std::to_string(std::random_device{}()));
  ScratchDir() { fs::create_directories(path); }
  ~ScratchDir() { fs::remove_all(path); }
};

// Copies the fixture into `dir` with every BF16 element of the named tensors set to `value`.
void write_model_with_filled_tensors(const fs::path& dir, const std::vector<std::string>& names,
                                     std::uint16_t value) {
  fs::copy_file(kModel + "/config.json", dir / "config.json");
  std::ifstream in(kModel + "/model.safetensors", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::uint64_t header_size = 0;
  std::memcpy(&header_size, bytes.data(), 8);
  const auto header = nlohmann::json::parse(bytes.substr(8, header_size));
  for (const std::string& name : names) {
    const auto& offsets = header.at(name).at("data_offsets");
    for (std::size_t at = offsets[0].get<std::size_t>(); at < offsets[1].get<std::size_t>();
         at += 2) {
      std::memcpy(&bytes[8 + header_size + at], &value, 2);
    }
  }
  std::ofstream(dir / "model.safetensors", std::ios::binary) << bytes;
}

}  // namespace

TEST_CASE("cancel() while idle does not cancel the next call, also across reset()",
          "[api][session]") {
  auto model = load(kModel, 256);
  const std::vector<std::int32_t> prompt = {5, 17, 42, 99};
  auto session = model->new_session();
  session->cancel();  // nothing in progress: no effect
  session->prefill(prompt);
  CHECK(session->position() == 4);

  session->cancel();
  mimo::Sampler sampler(mimo::SamplerConfig{});
  const auto result = session->generate({}, sampler, greedy_options(3));
  CHECK(result.reason == mimo::StopReason::kMaxTokens);
  CHECK(result.tokens.size() == 3);

  session->cancel();
  session->reset();
  session->prefill(prompt);
  CHECK(session->score({7}).size() == static_cast<std::size_t>(model->summary().vocab_size));

  // A cancel from the callback (the generation is in progress) still ends this generation, and
  // only this one.
  int seen = 0;
  const auto cancelled = session->generate({}, sampler, greedy_options(10), [&](const auto&) {
    if (++seen == 2) session->cancel();
    return true;
  });
  CHECK(cancelled.reason == mimo::StopReason::kCancelled);
  CHECK(cancelled.tokens.size() == 2);
  CHECK(session->generate({}, sampler, greedy_options(2)).tokens.size() == 2);
}

TEST_CASE("generate never writes past max_context", "[api][session]") {
  constexpr std::int64_t kContext = 12;
  auto model = load(kModel, kContext);
  mimo::Sampler sampler(mimo::SamplerConfig{});
  auto session = model->new_session();
  const auto first = session->generate({1, 2, 3, 4, 5}, sampler, greedy_options(100));
  CHECK(first.reason == mimo::StopReason::kContextFull);
  CHECK(session->position() == kContext);
  // A second call after the stop used to append one more token.
  const auto again = session->generate({}, sampler, greedy_options(100));
  CHECK(again.reason == mimo::StopReason::kContextFull);
  CHECK(again.tokens.empty());
  CHECK(session->position() == kContext);
  CHECK(session->tokens().size() == static_cast<std::size_t>(kContext));

  // A prompt that fills the context exactly leaves no room for a token either.
  auto full = model->new_session();
  const auto none =
      full->generate(std::vector<std::int32_t>(kContext, 7), sampler, greedy_options(5));
  CHECK(none.reason == mimo::StopReason::kContextFull);
  CHECK(none.tokens.empty());
  CHECK(full->position() == kContext);

  // The same with a speculator: the first token used to be drawn without a check.
  mimo::GenerateOptions spec = greedy_options(100);
  spec.speculator = mimo::make_ngram_speculator();
  auto speculative = model->new_session();
  CHECK(speculative->generate({1, 2, 3, 4, 5}, sampler, spec).reason ==
        mimo::StopReason::kContextFull);
  CHECK(speculative->generate({}, sampler, spec).tokens.empty());
  CHECK(speculative->position() == kContext);
}

TEST_CASE("a full context is named by the Session method, before anything changes",
          "[api][session]") {
  constexpr std::int64_t kContext = 12;
  auto model = load(kModel, kContext);
  mimo::Sampler sampler(mimo::SamplerConfig{});
  auto session = model->new_session();
  session->prefill(std::vector<std::int32_t>(10, 7));
  const std::vector<float> logits = session->logits();
  std::string message = error_message([&] { session->prefill({1, 2, 3}); }, ErrorCode::kOutOfRange);
  CHECK(message.rfind("Session::prefill: the context is full: 10 tokens in it + 3 new exceed "
                      "max_context 12",
                      0) == 0);
  message = error_message([&] { session->score({1, 2, 3}); }, ErrorCode::kOutOfRange);
  CHECK(message.rfind("Session::score: the context is full", 0) == 0);
  CHECK(session->position() == 10);
  CHECK(session->logits() == logits);
  session->score({1, 2});
  // Full: step() used to sample (and record the token in the sampler's history) before the
  // executor refused the token with "forward: ...".
  mimo::SamplerConfig penalized;
  penalized.presence_penalty = 1e30f;  // a token in the history can never be drawn again
  mimo::Sampler watched(penalized);
  mimo::Sampler untouched(penalized);
  message = error_message([&] { session->step(watched); }, ErrorCode::kOutOfRange);
  CHECK(message.rfind("Session::step: the context is full: 12 tokens in it + 1 new", 0) == 0);
  CHECK(message.find("forward") == std::string::npos);
  CHECK(session->position() == kContext);
  const std::vector<float>& last = session->logits();
  CHECK(watched.sample(last.data(), model->summary().vocab_size).token ==
        untouched.sample(last.data(), model->summary().vocab_size).token);
  session->rewind(3);
  CHECK(session->step(sampler).token >= 0);
  CHECK(session->position() == kContext - 2);
}

TEST_CASE("NaN or infinite logits are reported with their token position", "[api][session]") {
  const ScratchDir nan_dir, inf_dir;
  constexpr int kPoisoned = 42;
  mimo::testing::write_poisoned_model(kModel, nan_dir.path, kPoisoned, 0x7FC0);  // BF16 NaN
  mimo::testing::write_poisoned_model(kModel, inf_dir.path, kPoisoned, 0x7F80);  // BF16 +inf
  auto model = load(nan_dir.path.string(), 64);

  // Rows before the poisoned token are finite; its own row is not.
  auto session = model->new_session();
  std::string message = error_message(
      [&] {
        session->score({3, 4, kPoisoned, 5});
      },
      ErrorCode::kNonFinite);
  CHECK(message.find("Session::score") != std::string::npos);
  CHECK(message.find("context position 2") != std::string::npos);
  CHECK(message.find("NaN") != std::string::npos);

  // Positions count from the start of the context.
  auto later = model->new_session();
  later->prefill({3, 4, 5});
  message = error_message([&] { later->score({kPoisoned}); }, ErrorCode::kNonFinite);
  CHECK(message.find("context position 3") != std::string::npos);

  // logits() and generate() refuse to hand out or sample from them.
  auto generating = model->new_session();
  generating->prefill({3, kPoisoned});
  message = error_message([&] { generating->logits(); }, ErrorCode::kNonFinite);
  CHECK(message.find("context position 1") != std::string::npos);
  mimo::Sampler sampler(mimo::SamplerConfig{});
  error_message([&] { generating->generate({}, sampler, greedy_options(4)); },
                ErrorCode::kNonFinite);

  // A clean context on the same model still works.
  auto clean = model->new_session();
  CHECK(clean->score({3, 4}).size() == 2 * static_cast<std::size_t>(model->summary().vocab_size));

  auto inf_model = load(inf_dir.path.string(), 64);
  auto inf_session = inf_model->new_session();
  error_message([&] { inf_session->score({kPoisoned, 3}); }, ErrorCode::kNonFinite);
}

TEST_CASE("ModelOptions::check_activations names the first layer and op that made a NaN",
          "[api][session]") {
  auto load_checked = [](const fs::path& dir, bool check) {
    mimo::ModelOptions options;
    options.device = mimo::Device::kCpu;
    options.max_context = 64;
    options.max_step_tokens = 8;
    options.check_activations = check;
    return mimo::Model::load(dir.string(), options);
  };
  // Every expert of layer 2 computes NaN, and so does layer 3's o_proj: layer 2 is the first.
  const ScratchDir experts_dir, embed_dir;
  std::vector<std::string> poisoned = {"model.layers.3.self_attn.o_proj.weight"};
  for (int e = 0; e < 8; ++e) {
    poisoned.push_back("model.layers.2.mlp.experts." + std::to_string(e) + ".down_proj.weight");
  }
  write_model_with_filled_tensors(experts_dir.path, poisoned, 0x7FC0);  // BF16 NaN
  auto session = load_checked(experts_dir.path, true)->new_session();
  std::string message = error_message([&] { session->score({6, 7}); }, ErrorCode::kNonFinite);
  CHECK(message.find("layer 2 (experts) produced NaN at context position 0") != std::string::npos);
  CHECK(session->position() == 0);  // the failed step left the context as it was

  // Without the option only the logits are seen: the position, no layer.
  auto unchecked = load_checked(experts_dir.path, false)->new_session();
  message = error_message([&] { unchecked->score({3, 4}); }, ErrorCode::kNonFinite);
  CHECK(message.find("logits") != std::string::npos);
  CHECK(message.find("layer") == std::string::npos);

  // A NaN embedding row: the embedding op, at the poisoned token's position.
  mimo::testing::write_poisoned_model(kModel, embed_dir.path, 42, 0x7F80);  // BF16 +inf
  // Positions count from the start of the context, not of the step.
  auto embedded = load_checked(embed_dir.path, true)->new_session();
  embedded->prefill({3, 4});
  message = error_message([&] { embedded->score({5, 6, 42, 7}); }, ErrorCode::kNonFinite);
  CHECK(message.find("the embed produced +inf at context position 4") != std::string::npos);
  CHECK(embedded->position() == 2);

  // On finite weights the checks change nothing, bit for bit.
  auto plain = load(kModel, 64)->new_session();
  auto checked = load_checked(kModel, true)->new_session();
  const std::vector<std::int32_t> prompt = {5, 17, 42, 99, 7, 8, 9, 10, 11, 12};
  CHECK(checked->score(prompt) == plain->score(prompt));

  // The checks run on the CPU executor: Device::kAuto loads there, Device::kCuda is refused
  // (never silently unchecked), whether or not a GPU is present.
  mimo::ModelOptions automatic;
  automatic.device = mimo::Device::kAuto;
  automatic.max_context = 64;
  automatic.check_activations = true;
  CHECK(mimo::Model::load(kModel, automatic)->summary().device.find("cpu") != std::string::npos);
  mimo::ModelOptions cuda = automatic;
  cuda.device = mimo::Device::kCuda;
  message = error_message([&] { mimo::Model::load(kModel, cuda); }, ErrorCode::kInvalidArgument);
  CHECK(message.find("check_activations") != std::string::npos);
}

TEST_CASE("ModelOptions::engine = kPersistent is refused where the model would load on the CPU",
          "[api]") {
  mimo::ModelOptions options;
  options.device = mimo::Device::kCpu;
  options.max_context = 64;
  options.engine = mimo::Engine::kPersistent;
  std::string message =
      error_message([&] { mimo::Model::load(kModel, options); }, ErrorCode::kInvalidArgument);
  CHECK(message.find("engine") != std::string::npos);
  // With check_activations the model would load on the CPU too, whatever the device.
  options.device = mimo::Device::kAuto;
  options.check_activations = true;
  message = error_message([&] { mimo::Model::load(kModel, options); }, ErrorCode::kInvalidArgument);
  CHECK(message.find("kPersistent") != std::string::npos);
  // The stream runner (and kAuto) on the CPU: no effect, the model loads.
  options.check_activations = false;
  options.device = mimo::Device::kCpu;
  for (mimo::Engine engine : {mimo::Engine::kStream, mimo::Engine::kAuto}) {
    options.engine = engine;
    CHECK(mimo::Model::load(kModel, options)->summary().device.find("cpu") != std::string::npos);
  }
}

TEST_CASE("symlink loops arrive as mimo::Error(kIo), not filesystem_error", "[api]") {
  const ScratchDir scratch;
  const fs::path a = scratch.path / "a", b = scratch.path / "b";
  fs::create_symlink(b, a);
  fs::create_symlink(a, b);
  for (const fs::path& target : {a, a / "config.json"}) {
    CHECK_THROWS_AS(load(target.string(), 16), mimo::Error);
    CHECK_THROWS_AS(mimo::inspect_checkpoint(target.string()), mimo::Error);
    CHECK_THROWS_AS(mimo::Tokenizer::from_model_dir(target.string()), mimo::Error);
    CHECK_THROWS_AS(mimo::Tokenizer::from_file(target.string()), mimo::Error);
  }
  // A model directory whose files are symlink loops.
  const fs::path looped = scratch.path / "looped";
  fs::create_directories(looped);
  fs::copy_file(kModel + "/config.json", looped / "config.json");
  fs::create_symlink(looped / "model.safetensors", looped / "model.safetensors");
  fs::create_symlink(looped / "model.safetensors.index.json",
                     looped / "model.safetensors.index.json");
  const std::string message = error_message([&] { load(looped.string(), 16); }, ErrorCode::kIo);
  CHECK(message.find(looped.string()) != std::string::npos);
}

TEST_CASE("metadata files that are FIFOs or directories are refused, never waited on", "[api]") {
  // A FIFO config.json blocked Model::load forever in the open (no writer ever comes); a
  // directory read as empty text and failed as "invalid JSON ... unexpected end of input".
  const ScratchDir scratch;
  const fs::path fifo = scratch.path / "fifo", dir = scratch.path / "dir";
  fs::create_directories(fifo);
  fs::copy_file(kModel + "/model.safetensors", fifo / "model.safetensors");
  REQUIRE(::mkfifo((fifo / "config.json").c_str(), 0600) == 0);
  REQUIRE(::mkfifo((scratch.path / "tokenizer.json").c_str(), 0600) == 0);
  fs::create_directories(scratch.path / "lone");
  fs::copy_file(kModel + "/config.json", scratch.path / "lone" / "config.json");
  const fs::path lone = scratch.path / "lone" / "model.safetensors";
  REQUIRE(::mkfifo(lone.c_str(), 0600) == 0);
  fs::create_directories(dir / "config.json");
  fs::copy_file(kModel + "/model.safetensors", dir / "model.safetensors");
  std::string message = error_message([&] { load(fifo.string(), 16); }, ErrorCode::kIo);
  CHECK(message.find("config.json: not a regular file (a FIFO, socket or device)") !=
        std::string::npos);
  message = error_message([&] { load(dir.string(), 16); }, ErrorCode::kIo);
  CHECK(message.find("config.json: not a regular file (a directory)") != std::string::npos);
  message =
      error_message([&] { mimo::Tokenizer::from_file((scratch.path / "tokenizer.json").string()); },
                    ErrorCode::kIo);
  CHECK(message.find("tokenizer.json: not a regular file") != std::string::npos);
  message = error_message([&] { load(lone.string(), 16); }, ErrorCode::kIo);
  CHECK(message.find("model.safetensors: not a file or directory") != std::string::npos);
}

TEST_CASE("standard-library failures map to the matching mimo::Error code", "[api]") {
  // What every public entry point that reads files does with them (lib/errors/foreign_errors).
  auto translated = [](const std::function<void()>& failure) {
    try {
      try {
        failure();
      } catch (...) {
        mimo::rethrow_as_mimo_error("some/file.json");
      }
    } catch (const mimo::Error& e) {
      CHECK(std::string(e.what()).find("some/file.json") != std::string::npos);
      return e.code();
    }
    FAIL("expected a mimo::Error");
    return ErrorCode::kInternal;
  };
  CHECK(translated([] {
          throw fs::filesystem_error(
              "status", "x", std::make_error_code(std::errc::too_many_symbolic_link_levels));
        }) == ErrorCode::kIo);
  CHECK(translated([] { throw std::bad_alloc(); }) == ErrorCode::kOutOfRange);
  CHECK(translated([] { std::vector<double>(std::vector<double>().max_size() + 1); }) ==
        ErrorCode::kOutOfRange);
  CHECK(translated([] { throw mimo::Error(ErrorCode::kUnsupported, "some/file.json: x"); }) ==
        ErrorCode::kUnsupported);
  // A caller's own exception (from a callback) passes through untouched.
  CHECK_THROWS_AS(translated([] { throw std::logic_error("the caller's"); }), std::logic_error);
}

TEST_CASE("standard-library failures inside Session methods arrive as mimo::Error", "[api]") {
  // No absurd size reaches a Session method's allocations portably (the context and the step
  // sizes are validated first, and the KV cache is sized in new_session), so the executor's
  // test hook, called inside every step, throws what a failed allocation would.
  auto model = load(kModel, 64);
  auto* executor = dynamic_cast<mimo::exec::CpuExecutor*>(model->impl().executor.get());
  REQUIRE(executor != nullptr);
  using mimo::program::Task;
  auto failing = [](const mimo::program::StepProgram&, void* kind) -> std::vector<Task> {
    switch (*static_cast<int*>(kind)) {
      case 0:
        throw std::bad_alloc();
      case 1:
        return std::vector<Task>(std::vector<Task>().max_size() + 1);  // std::length_error
      default:
        throw std::out_of_range("vector::_M_range_check");
    }
  };
  auto session = model->new_session();
  session->prefill({5, 17});
  mimo::Sampler sampler(mimo::SamplerConfig{});
  int kind = 0;
  executor->set_task_order_for_testing(failing, &kind);

  std::string message = error_message([&] { session->prefill({42}); }, ErrorCode::kOutOfRange);
  CHECK(message.rfind("Session::prefill: out of memory", 0) == 0);
  // (generate's prompt goes through prefill, which names itself.)
  message = error_message([&] { session->generate({42}, sampler, greedy_options(2)); },
                          ErrorCode::kOutOfRange);
  CHECK(message.find(": out of memory") != std::string::npos);
  kind = 1;
  message = error_message([&] { session->score({42}); }, ErrorCode::kOutOfRange);
  CHECK(message.rfind("Session::score: size too large", 0) == 0);
  // Any other standard exception from inside libmimo is a bug of libmimo: kInternal.
  kind = 2;
  message = error_message([&] { session->step(sampler); }, ErrorCode::kInternal);
  CHECK(message.rfind("Session::step: unexpected exception: vector::_M_range_check", 0) == 0);

  // Every failed call left the context as it was.
  executor->set_task_order_for_testing(nullptr, nullptr);
  CHECK(session->position() == 2);
  CHECK(session->score({42}).size() == static_cast<std::size_t>(model->summary().vocab_size));
  CHECK(session->position() == 3);
}

TEST_CASE("on_token may read and cancel the session, not change it under generate",
          "[api][session]") {
  auto model = load(kModel, 64);
  auto session = model->new_session();
  mimo::Sampler sampler(mimo::SamplerConfig{});
  const std::vector<std::pair<const char*, std::function<void(mimo::Session&)>>> calls = {
      {"Session::reset", [](mimo::Session& s) { s.reset(); }},
      {"Session::rewind", [](mimo::Session& s) { s.rewind(s.position()); }},
      {"Session::prefill",
       [](mimo::Session& s) {
         s.prefill({1, 2});
       }},
      {"Session::logits", [](mimo::Session& s) { s.logits(); }},
      {"Session::score", [](mimo::Session& s) { s.score({1}); }},
      {"Session::generate",
       [](mimo::Session& s) {
         mimo::Sampler inner(mimo::SamplerConfig{});
         s.generate({1}, inner);
       }},
  };
  for (const auto& [name, call] : calls) {
    INFO(name);
    const std::string what = error_message(
        [&] {
          session->generate({5, 17, 42}, sampler, greedy_options(6), [&](const auto&) {
            call(*session);
            return true;
          });
        },
        ErrorCode::kInvalidArgument);
    CHECK(what.find(std::string(name) + ": called from generate()'s on_token callback") !=
          std::string::npos);
  }
  // Reading and cancelling stay allowed; the session is still usable.
  session->reset();
  std::int64_t seen = 0;
  const mimo::GenerateResult result =
      session->generate({5, 17, 42}, sampler, greedy_options(6), [&](const auto&) {
        seen = session->position();
        if (session->tokens().size() == 5) session->cancel();
        return true;
      });
  CHECK(result.reason == mimo::StopReason::kCancelled);
  CHECK(seen == 5);
  CHECK(session->generate({}, sampler, greedy_options(2)).tokens.size() == 2);
}
