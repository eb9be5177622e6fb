// The drafter's mask-embedding override (mask_embedding.safetensors sidecar): it replaces the
// input of the mask slots exactly, and bad or unreadable sidecars are refused clearly.
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "api/model_impl.hpp"
#include "cpu/embedding.hpp"
#include "cpu/npy_reader.hpp"
#include "io/safetensors_writer.hpp"
#include "mimo/error.hpp"
#include "spec/dflash_speculator.hpp"
#include "spec_test_support.hpp"

namespace {

namespace fs = std::filesystem;

// A copy of the fixture drafter; `mask_token_id` replaced when >= 0.
struct DrafterCopy {
  explicit DrafterCopy(const std::string& tag, int mask_token_id = -1) {
    dir =
        fs::temp_directory_path() / fs::path("mimo_mask_" + tag + "_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    fs::copy_file(spec_test::data("dflash/drafter/model.safetensors"), dir / "model.safetensors",
                  fs::copy_options::overwrite_existing);
    std::ifstream in(spec_test::data("dflash/drafter/config.json"));
    nlohmann::json config = nlohmann::json::parse(in);
    if (mask_token_id >= 0) config["mask_token_id"] = mask_token_id;
    std::ofstream(dir / "config.json") << config.dump(1);
  }
  ~DrafterCopy() { fs::remove_all(dir); }

  void write_sidecar(const std::vector<float>& values, std::vector<std::int64_t> shape) const {
    mimo::io::SafetensorsWriter writer;
    writer.add("mask_embedding", mimo::io::DType::kF32, shape,
               std::as_bytes(std::span<const float>(values)));
    writer.write((dir / "mask_embedding.safetensors").string());
  }
  fs::path dir;
};

// The drafter's block hidden states after observing transformers' step-0 context.
std::vector<float> block_hidden(const mimo::Model& model, const fs::path& drafter_dir) {
  auto speculator = mimo::make_dflash_speculator(model, drafter_dir.string());
  auto& dflash = dynamic_cast<mimo::spec::DFlashSpeculator&>(*speculator);
  auto context = mimo::cpu::testing::read_npy_f32(spec_test::data("dflash/step0_context.npy"));
  dflash.observe(0, context.data.data(), 12);
  return dflash.drafter().block_hidden(42, 12);
}

}  // namespace

TEST_CASE("a mask-embedding sidecar replaces the mask slots' input exactly", "[spec][dflash]") {
  auto model = spec_test::load("tiny-bf16");
  const int other_token = 7;
  std::vector<float> row(64);
  mimo::cpu::embed(model->impl().weights.embed, std::vector<std::int32_t>{other_token}, row.data());

  // Mask id 255 with the embedding of token 7 as override == mask id 7 without override.
  DrafterCopy overridden("override");
  overridden.write_sidecar(row, {64});
  DrafterCopy renumbered("renumbered", other_token);
  const auto with_sidecar = block_hidden(*model, overridden.dir);
  const auto with_mask_7 = block_hidden(*model, renumbered.dir);
  REQUIRE(with_sidecar.size() == 4 * 64);
  CHECK(std::memcmp(with_sidecar.data(), with_mask_7.data(), with_sidecar.size() * 4) == 0);

  // ... and it does change the drafter (the fixture's own mask row differs from token 7's).
  const auto plain = block_hidden(*model, spec_test::data("dflash/drafter"));
  CHECK(std::memcmp(plain.data(), with_sidecar.data(), plain.size() * 4) != 0);

  // [1, hidden] is accepted too.
  DrafterCopy row_shaped("rowshape");
  row_shaped.write_sidecar(row, {1, 64});
  CHECK(block_hidden(*model, row_shaped.dir) == with_sidecar);
}

TEST_CASE("bad or unreadable mask embeddings are refused clearly", "[spec][dflash][errors]") {
  auto model = spec_test::load("tiny-bf16");
  auto code_and_message = [&](const fs::path& dir) -> std::pair<mimo::ErrorCode, std::string> {
    try {
      mimo::make_dflash_speculator(*model, dir.string());
    } catch (const mimo::Error& e) {
      return {e.code(), e.what()};
    }
    return {mimo::ErrorCode::kInternal, "accepted"};
  };
  DrafterCopy wrong_size("wrongsize");
  wrong_size.write_sidecar(std::vector<float>(63, 0.5f), {63});
  auto [code, message] = code_and_message(wrong_size.dir);
  CHECK(code == mimo::ErrorCode::kInvalidFile);
  CHECK(message.find("mask_embedding") != std::string::npos);
  CHECK(message.find("[64]") != std::string::npos);

  DrafterCopy pickle("pickle");
  std::ofstream(pickle.dir / "mask_embedding.pt") << "not read";
  auto [pt_code, pt_message] = code_and_message(pickle.dir);
  CHECK(pt_code == mimo::ErrorCode::kUnsupported);
  CHECK(pt_message.find("mask_embedding.safetensors") != std::string::npos);
}
