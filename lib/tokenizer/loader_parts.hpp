// The steps of loading a tokenizer, shared by tokenizer_loader.cpp (vocabulary, merges, added
// tokens), pipeline_loader.cpp (normalizer, pre-tokenizer, decoder, post-processor) and
// config_loader.cpp (tokenizer_config.json).
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

#include "tokenizer/json_field.hpp"
#include "tokenizer/tokenizer_impl.hpp"

namespace mimo::tokenizer {

// Sequence normalizers / pre-tokenizers / decoders / post-processors nest at most this deep
// (real files use one level); deeper is Error(kInvalidFile), never a stack overflow.
constexpr int kMaxSequenceDepth = 16;
// ... and hold at most this many steps each (real files use two or three): each pre-tokenizer
// step is a regex compiled at load and run on every encode.
constexpr std::size_t kMaxSequenceSteps = 64;

// Reads and parses a JSON file (nesting at most 64 levels, no duplicate keys).
// Error(kIo) when it cannot be read, Error(kInvalidFile) when it is not such JSON.
nlohmann::json read_json_file(const std::string& path);

// Fills the pipeline stages from the root of tokenizer.json; the vocabulary must be loaded
// (post-processor ids are checked against it).
void load_pipeline(Tokenizer::Impl& impl, const JsonField& root);

// bos / eos / pad, chat template and clean-up flag from tokenizer_config.json.
void load_tokenizer_config(Tokenizer::Impl& impl, const std::string& path);

}  // namespace mimo::tokenizer
