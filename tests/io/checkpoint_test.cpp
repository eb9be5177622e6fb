// Checkpoint::open over single files, shard directories and model.safetensors.index.json,
// including every way an index and its shards can disagree.
#include "io/checkpoint.hpp"

#include <cstring>
#include <fstream>

#include "io/safetensors_writer.hpp"
#include "io_test_support.hpp"

namespace mimo::io {
namespace {

using testing::random_bytes;
using testing::require_error;
using testing::ScratchDir;

// Writes a shard holding `names`, each a BF16 [n, 4] with random contents; returns the bytes.
std::map<std::string, std::vector<std::byte>> write_shard(const std::string& path,
                                                          const std::vector<std::string>& names) {
  std::map<std::string, std::vector<std::byte>> contents;
  SafetensorsWriter writer;
  for (const std::string& name : names) {
    const std::int64_t rows = 1 + static_cast<std::int64_t>(name.size() % 5);
    auto bytes = random_bytes(static_cast<std::size_t>(rows) * 4 * 2,
                              static_cast<std::uint32_t>(std::hash<std::string>{}(path + name)));
    writer.add(name, DType::kBF16, {rows, 4}, bytes);
    contents.emplace(name, std::move(bytes));
  }
  writer.write(path);
  return contents;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

void require_contents(const Checkpoint& checkpoint,
                      const std::map<std::string, std::vector<std::byte>>& expected) {
  REQUIRE(checkpoint.tensors().size() == expected.size());
  for (const auto& [name, bytes] : expected) {
    INFO(name);
    const TensorView& view = checkpoint.get(name);
    REQUIRE(view.nbytes == bytes.size());
    CHECK(std::memcmp(view.data, bytes.data(), bytes.size()) == 0);
  }
}

}  // namespace

TEST_CASE("checkpoint: a sharded directory through its index") {
  ScratchDir dir;
  std::filesystem::create_directories(dir.file("sub"));
  auto expected = write_shard(dir.file("model-00001-of-00003.safetensors"),
                              {"model.embed_tokens.weight", "model.norm.weight"});
  expected.merge(write_shard(dir.file("model-00002-of-00003.safetensors"),
                             {"model.layers.0.self_attn.q_proj.weight"}));
  expected.merge(write_shard(dir.file("sub/model-00003-of-00003.safetensors"), {"lm_head.weight"}));
  write_index(dir.path(),
              {{"model.embed_tokens.weight", "model-00001-of-00003.safetensors"},
               {"model.norm.weight", "./model-00001-of-00003.safetensors"},
               {"model.layers.0.self_attn.q_proj.weight", "model-00002-of-00003.safetensors"},
               {"lm_head.weight", "sub/model-00003-of-00003.safetensors"}},
              {{"total_size", "56"}});
  // A stray file the index does not reference is ignored.
  write_shard(dir.file("unrelated.safetensors"), {"model.norm.weight"});

  const Checkpoint checkpoint = Checkpoint::open(dir.path());
  CHECK(checkpoint.directory() == dir.path());
  CHECK(checkpoint.shards().size() == 3);  // two index entries name the same shard
  require_contents(checkpoint, expected);
  require_contents(Checkpoint::open(dir.file("model.safetensors.index.json")), expected);
  CHECK(checkpoint.get("lm_head.weight").file == dir.file("sub/model-00003-of-00003.safetensors"));
  CHECK(checkpoint.find("model.mtp.layers.0.eh_proj.weight") == nullptr);
  require_error(
      [&] { checkpoint.get("model.mtp.layers.0.eh_proj.weight"); }, ErrorCode::kInvalidFile,
      {"checkpoint " + dir.path() + " has no tensor \"model.mtp.layers.0.eh_proj.weight\""});
}

TEST_CASE("checkpoint: without an index") {
  ScratchDir dir;
  SECTION("a path to one file") {
    const auto expected = write_shard(dir.file("model.safetensors"), {"a", "bb"});
    const Checkpoint checkpoint = Checkpoint::open(dir.file("model.safetensors"));
    CHECK(checkpoint.directory() == dir.path());
    require_contents(checkpoint, expected);
  }
  SECTION("a path to config.json or to the index opens the directory") {
    const auto expected = write_shard(dir.file("model.safetensors"), {"a", "bb"});
    write_text(dir.file("config.json"), "{}");
    const Checkpoint checkpoint = Checkpoint::open(dir.file("config.json"));
    CHECK(checkpoint.directory() == dir.path());
    require_contents(checkpoint, expected);
  }
  SECTION("a directory with one file") {
    const auto expected = write_shard(dir.file("weights.safetensors"), {"a", "bb"});
    write_text(dir.file("config.json"), "{}");
    require_contents(Checkpoint::open(dir.path()), expected);
  }
  SECTION("a directory with several files") {
    auto expected = write_shard(dir.file("one.safetensors"), {"a", "bb"});
    expected.merge(write_shard(dir.file("two.safetensors"), {"ccc"}));
    const Checkpoint checkpoint = Checkpoint::open(dir.path());
    CHECK(checkpoint.shards().size() == 2);
    require_contents(checkpoint, expected);
  }
  SECTION("a tensor in two files") {
    write_shard(dir.file("one.safetensors"), {"a", "bb"});
    write_shard(dir.file("two.safetensors"), {"bb"});
    require_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::kInvalidFile,
                  {"tensor \"bb\" is stored in both", dir.file("one.safetensors"),
                   dir.file("two.safetensors")});
  }
  SECTION("an empty directory") {
    require_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::kInvalidFile,
                  {dir.path(), "no model.safetensors.index.json and no .safetensors files"});
  }
  SECTION("a path that does not exist") {
    require_error([&] { Checkpoint::open(dir.file("nope")); }, ErrorCode::kIo,
                  {dir.file("nope"), "no such file"});
  }
  SECTION("a malformed shard names itself") {
    write_text(dir.file("broken.safetensors"), "abc");
    require_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::kInvalidFile,
                  {dir.file("broken.safetensors"), "shorter than"});
  }
}

TEST_CASE("checkpoint: index and shards that disagree") {
  ScratchDir dir;
  write_shard(dir.file("s1.safetensors"), {"a", "b"});
  write_shard(dir.file("s2.safetensors"), {"c"});
  SECTION("a tensor present in two shards") {
    write_shard(dir.file("s2.safetensors"), {"c", "a"});
    write_index(dir.path(),
                {{"a", "s1.safetensors"}, {"b", "s1.safetensors"}, {"c", "s2.safetensors"}});
    require_error(
        [&] { Checkpoint::open(dir.path()); }, ErrorCode::kInvalidFile,
        {"tensor \"a\" is stored in both", dir.file("s1.safetensors"), dir.file("s2.safetensors")});
  }
  SECTION("the index names a missing shard") {
    write_index(dir.path(),
                {{"a", "s1.safetensors"}, {"b", "s1.safetensors"}, {"c", "s3.safetensors"}});
    require_error(
        [&] { Checkpoint::open(dir.path()); }, ErrorCode::kInvalidFile,
        {"model.safetensors.index.json", "shard \"s3.safetensors\"", "\"c\"", "does not exist"});
  }
  SECTION("the index names a tensor absent from its shard") {
    write_index(dir.path(), {{"a", "s1.safetensors"},
                             {"b", "s1.safetensors"},
                             {"c", "s2.safetensors"},
                             {"d", "s2.safetensors"}});
    require_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::kInvalidFile,
                  {"tensor \"d\"", dir.file("s2.safetensors"), "does not contain it"});
  }
  SECTION("a shard holds a tensor the index does not list") {
    write_index(dir.path(), {{"a", "s1.safetensors"}, {"c", "s2.safetensors"}});
    require_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::kInvalidFile,
                  {dir.file("s1.safetensors"), "tensor \"b\"", "the index does not list"});
  }
  SECTION("shard paths that leave the directory") {
    for (const char* path : {"../s1.safetensors", "/etc/s1.safetensors", "sub/../../x", ""}) {
      INFO(path);
      write_index(dir.path(), {{"a", path}});
      require_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::kInvalidFile,
                    {"tensor \"a\"", "is not inside the checkpoint directory"});
    }
  }
  SECTION("a malformed index") {
    const std::string index = dir.file("model.safetensors.index.json");
    write_text(index, R"({"weight_map": {"a": "s1.safetensors", "a": "s2.safetensors"}})");
    require_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::kInvalidFile,
                  {index, "duplicate JSON key \"a\""});
    write_text(index, R"({"metadata": {}})");
    require_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::kInvalidFile,
                  {index, "\"weight_map\""});
    write_text(index, R"({"weight_map": {"a": 3}})");
    require_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::kInvalidFile,
                  {index, "weight_map[\"a\"] must be a file name"});
    write_text(index, "not json");
    require_error([&] { Checkpoint::open(dir.path()); }, ErrorCode::kInvalidFile,
                  {index, "invalid JSON"});
  }
}

}  // namespace mimo::io
