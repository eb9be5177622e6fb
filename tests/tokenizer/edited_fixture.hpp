// A scratch copy of the tiny tokenizer fixture whose tokenizer.json (and optionally
// tokenizer_config.json) a test may edit, and the mimo::Error a load of it throws.
#pragma once

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>

#include "mimo/error.hpp"
#include "mimo/tokenizer.hpp"
#include "tiny_tokenizer.hpp"

namespace mimo::test {

struct EditedFixture {
  std::filesystem::path dir;
  explicit EditedFixture(const std::function<void(nlohmann::json&)>& edit,
                         const std::function<void(nlohmann::json&)>& edit_config = {}) {
    dir = std::filesystem::temp_directory_path() /
          ("mimo_tok_" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir);
    write(edit, "tokenizer.json");
    if (edit_config) write(edit_config, "tokenizer_config.json");
  }
  ~EditedFixture() { std::filesystem::remove_all(dir); }
  EditedFixture(const EditedFixture&) = delete;
  EditedFixture& operator=(const EditedFixture&) = delete;

  std::string json_path() const { return (dir / "tokenizer.json").string(); }
  std::string config_path() const { return (dir / "tokenizer_config.json").string(); }

  // Replaces the first `placeholder` in the written tokenizer.json by raw `text` (for JSON that
  // nlohmann could not build or dump, such as 100,000 nested levels).
  void replace_in_json(const std::string& placeholder, const std::string& text) const {
    std::ifstream in(json_path());
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    content.replace(content.find(placeholder), placeholder.size(), text);
    std::ofstream(json_path()) << content;
  }

 private:
  void write(const std::function<void(nlohmann::json&)>& edit, const std::string& name) {
    std::ifstream in(tiny_tokenizer_dir() + "/" + name);
    nlohmann::json root = nlohmann::json::parse(in);
    edit(root);
    std::ofstream(dir / name) << root.dump();
  }
};

// The error loading DIR throws, or nullopt when it loads.
inline std::optional<Error> tokenizer_load_error(const std::string& dir) {
  try {
    Tokenizer::from_model_dir(dir);
  } catch (const Error& e) {
    return e;
  }
  return std::nullopt;
}

}  // namespace mimo::test
