// A checkpoint directory: config.json plus one model.safetensors or shards listed by
// model.safetensors.index.json, presented as one name -> tensor map.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/safetensors.hpp"

namespace mimo::io {

class Checkpoint {
 public:
  // `path`: a directory (with model.safetensors.index.json, or a single *.safetensors), its
  // index or config.json (as load_model_config takes it: the directory is opened), or one
  // .safetensors file. Validates every shard and the index: a tensor named by the index but
  // absent from its shard, present in two shards, or present in a shard the index does not
  // assign it to is an error.
  static Checkpoint open(const std::string& path);

  const std::string& directory() const { return directory_; }
  // Tensor by name; throws mimo::Error(kInvalidFile) naming the checkpoint and the tensor.
  const TensorView& get(const std::string& name) const;
  const TensorView* find(const std::string& name) const;
  const std::map<std::string, const TensorView*>& tensors() const { return index_; }
  const std::vector<std::shared_ptr<const SafetensorsFile>>& shards() const { return shards_; }

 private:
  void add_shard_tensors(const std::shared_ptr<const SafetensorsFile>& shard);
  void open_indexed(const std::string& index_path);
  void open_unindexed();

  std::string label_;  // the path the caller opened, for messages
  std::string directory_;
  std::vector<std::shared_ptr<const SafetensorsFile>> shards_;
  std::map<std::string, const TensorView*> index_;
};

}  // namespace mimo::io
