// Encoding with many added tokens (issue 21): the tiny fixture plus N added tokens that all
// begin with '<' (the worst case for a search bucketed by first byte), over 1 MB of text where
// one byte in eight starts an added-token candidate. Time per byte should not depend on N.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "mimo/tokenizer.hpp"

namespace {

std::string source_root() {
  const std::string file = __FILE__;
  return file.substr(0, file.rfind("/bench/"));
}

// The tiny fixture with `count` added tokens "<t0>", "<t1>", ..., written to a scratch folder.
mimo::Tokenizer tokenizer_with_added(int count) {
  const std::string fixture = source_root() + "/tests/data/tokenizers/tiny/tokenizer.json";
  nlohmann::json root = nlohmann::json::parse(std::ifstream(fixture));
  const int first_id = 418;
  for (int i = 0; i < count; ++i) {
    root["added_tokens"].push_back(
        {{"id", first_id + i}, {"content", "<t" + std::to_string(i) + ">"}, {"special", true}});
  }
  const auto dir =
      std::filesystem::temp_directory_path() / ("mimo_added_bench_" + std::to_string(count));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << root.dump();
  mimo::Tokenizer tok = mimo::Tokenizer::from_model_dir(dir.string());
  std::filesystem::remove_all(dir);
  return tok;
}

std::string text_with_candidates() {
  std::string text;
  for (int i = 0; text.size() < (1u << 20); ++i) {
    text += "word <t" + std::to_string(i % 10) + "> <x" + std::to_string(i) + " and <t9";
  }
  return text;
}

void BM_EncodeWithAddedTokens(benchmark::State& state) {
  const mimo::Tokenizer tok = tokenizer_with_added(static_cast<int>(state.range(0)));
  const std::string text = text_with_candidates();
  for (auto _ : state) benchmark::DoNotOptimize(tok.encode(text));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_EncodeWithAddedTokens)->Arg(10)->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond);

}  // namespace
