// A speculator that reads device taps (exec::DeviceTapsReader) on an executor that has none (the
// CPU reference): the session asks for device taps, gets host ones and hands them to observe(),
// as for any speculator; generation equals plain greedy (docs/speculative.md, "On the GPU").
#include <algorithm>

#include "exec/device_taps.hpp"
#include "spec_test_support.hpp"

namespace {

class DeviceReader final : public mimo::Speculator, public mimo::exec::DeviceTapsReader {
 public:
  explicit DeviceReader(int layers) : layers_(layers) {}
  std::string name() const override { return "device-reader"; }
  int max_draft() const override { return 3; }
  std::vector<int> feature_layers() const override { return {0, layers_ - 1}; }
  void observe(std::int64_t first_position, const float* features, std::int64_t rows) override {
    CHECK(features != nullptr);
    CHECK(first_position <= observed);  // contiguous, or re-running rolled-back positions
    observed = first_position + rows;
    ++host_calls;
  }
  void truncate(std::int64_t length) override { observed = std::min(observed, length); }
  std::vector<std::int32_t> propose(const std::vector<std::int32_t>& context, int) override {
    return {context.back(), context.back()};  // often wrong: every acceptance length happens
  }
  bool accepts_device_taps() const override { return true; }
  void observe_device(std::int64_t, const mimo::exec::DeviceTaps&, std::int64_t) override {
    ++device_calls;
  }

  std::int64_t observed = 0;
  int host_calls = 0, device_calls = 0;

 private:
  int layers_;
};

}  // namespace

TEST_CASE("a device-taps reader gets host taps from the CPU executor", "[spec][taps]") {
  const auto model = spec_test::load("tiny-bf16");
  const auto prompt =
      spec_test::read_ids(spec_test::data("models/tiny-bf16/reference/greedy_prompt.txt"));
  const auto plain = spec_test::generate(*model, prompt, 40).tokens;
  auto reader = std::make_shared<DeviceReader>(model->summary().num_layers);
  CHECK(spec_test::generate(*model, prompt, 40, reader).tokens == plain);
  CHECK(reader->device_calls == 0);
  CHECK(reader->host_calls > 1);
}
