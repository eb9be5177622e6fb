// Checkpoint: one name -> tensor map over a single file, a directory of shards, or shards listed
// by model.safetensors.index.json, with the index and the shards cross-checked.
#include "io/checkpoint.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/strict_json.hpp"
#include "mimo/error.hpp"

namespace mimo::io {
namespace {

namespace fs = std::filesystem;

constexpr const char* kIndexName = "model.safetensors.index.json";

template <typename... Args>
Error invalid(fmt::format_string<Args...> format, Args&&... args) {
  return Error(ErrorCode::kInvalidFile, fmt::format(format, std::forward<Args>(args)...));
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) throw Error(ErrorCode::kIo, fmt::format("{}: cannot read", path));
  return text.str();
}

// A shard path from the index, normalized; rejects paths that leave the checkpoint directory.
std::string shard_relative_path(const std::string& file, const std::string& tensor,
                                const std::string& index_path) {
  const fs::path normal = fs::path(file).lexically_normal();
  const bool escapes =
      file.empty() || normal.is_absolute() || normal.empty() || *normal.begin() == "..";
  if (escapes) {
    throw invalid("{}: tensor \"{}\": shard path \"{}\" is not inside the checkpoint directory",
                  index_path, tensor, file);
  }
  return normal.string();
}

}  // namespace

Checkpoint Checkpoint::open(const std::string& path) {
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  if (!fs::exists(status)) {
    throw Error(ErrorCode::kIo, fmt::format("{}: no such file or directory", path));
  }
  Checkpoint checkpoint;
  checkpoint.label_ = path;
  if (fs::is_regular_file(status)) {
    const fs::path file(path);
    const fs::path parent = file.parent_path();
    checkpoint.directory_ = parent.empty() ? "." : parent.string();
    if (file.filename() == kIndexName) {
      checkpoint.open_indexed(path);
    } else if (file.extension() == ".json") {
      // config.json names its checkpoint directory (read as a shard, its text would fail with a
      // nonsensical header length).
      return open(checkpoint.directory_);
    } else {
      checkpoint.add_shard_tensors(SafetensorsFile::open(path));
    }
  } else if (fs::is_directory(status)) {
    checkpoint.directory_ = path;
    const std::string index_path = (fs::path(path) / kIndexName).string();
    if (fs::exists(index_path)) {
      checkpoint.open_indexed(index_path);
    } else {
      checkpoint.open_unindexed();
    }
  } else {
    throw Error(ErrorCode::kIo, fmt::format("{}: not a file or directory", path));
  }
  return checkpoint;
}

void Checkpoint::add_shard_tensors(const std::shared_ptr<const SafetensorsFile>& shard) {
  for (const auto& [name, view] : shard->tensors()) {
    const auto [it, inserted] = index_.emplace(name, &view);
    if (!inserted) {
      throw invalid("checkpoint {}: tensor \"{}\" is stored in both {} and {}", label_, name,
                    it->second->file, shard->path());
    }
  }
  shards_.push_back(shard);
}

void Checkpoint::open_unindexed() {
  std::vector<std::string> files;
  for (const fs::directory_entry& entry : fs::directory_iterator(directory_)) {
    if (entry.is_regular_file() && entry.path().extension() == ".safetensors") {
      files.push_back(entry.path().string());
    }
  }
  if (files.empty()) {
    throw invalid("checkpoint directory {} has no {} and no .safetensors files", directory_,
                  kIndexName);
  }
  std::sort(files.begin(), files.end());
  for (const std::string& file : files) add_shard_tensors(SafetensorsFile::open(file));
}

void Checkpoint::open_indexed(const std::string& index_path) {
  const nlohmann::json index = parse_json_strict(read_text(index_path), index_path);
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
    throw invalid("{}: expected an object with a \"weight_map\" object", index_path);
  }
  if (index.contains("metadata") && !index["metadata"].is_object()) {
    throw invalid("{}: \"metadata\" must be an object, found {}", index_path,
                  index["metadata"].dump());
  }
  // tensor -> shard path relative to the directory, and the tensors each shard must hold.
  std::map<std::string, std::string> weight_map;
  std::map<std::string, std::vector<std::string>> shard_tensors;
  for (const auto& [tensor, file] : index["weight_map"].items()) {
    if (!file.is_string()) {
      throw invalid("{}: weight_map[\"{}\"] must be a file name, found {}", index_path, tensor,
                    file.dump());
    }
    const std::string relative = shard_relative_path(file.get<std::string>(), tensor, index_path);
    weight_map.emplace(tensor, relative);
    shard_tensors[relative].push_back(tensor);
  }

  std::map<std::string, std::shared_ptr<const SafetensorsFile>> opened;
  for (const auto& [relative, tensors] : shard_tensors) {
    const std::string shard_path = (fs::path(directory_) / relative).string();
    if (!fs::is_regular_file(shard_path)) {
      throw invalid("{}: shard \"{}\" (holding tensor \"{}\") does not exist", index_path, relative,
                    tensors.front());
    }
    const auto shard = SafetensorsFile::open(shard_path);
    for (const std::string& tensor : tensors) {
      if (shard->find(tensor) == nullptr) {
        throw invalid("{}: assigns tensor \"{}\" to shard {}, which does not contain it",
                      index_path, tensor, shard_path);
      }
    }
    opened.emplace(relative, shard);
  }

  for (const auto& [relative, shard] : opened) {
    for (const auto& [name, view] : shard->tensors()) {
      const auto listed = weight_map.find(name);
      if (listed == weight_map.end()) {
        throw invalid("{}: shard {} holds tensor \"{}\", which the index does not list", index_path,
                      shard->path(), name);
      }
      if (listed->second != relative) {
        throw invalid("checkpoint {}: tensor \"{}\" is stored in both {} and {}", label_, name,
                      (fs::path(directory_) / listed->second).string(), shard->path());
      }
    }
    add_shard_tensors(shard);
  }
}

const TensorView* Checkpoint::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

const TensorView& Checkpoint::get(const std::string& name) const {
  const TensorView* view = find(name);
  if (view == nullptr) {
    throw invalid("checkpoint {} has no tensor \"{}\"", label_, name);
  }
  return *view;
}

}  // namespace mimo::io
