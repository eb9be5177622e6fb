// libFuzzer entry: arbitrary bytes as a .safetensors image. parse_safetensors must either
// return views that lie inside the image or throw mimo::Error - never crash or read outside.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "io/safetensors.hpp"
#include "mimo/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> image(reinterpret_cast<const std::byte*>(data), size);
  try {
    const mimo::io::SafetensorsHeader header = mimo::io::parse_safetensors(image, "fuzz");
    for (const auto& [name, view] : header.tensors) {
      const bool inside = view.data >= image.data() && view.nbytes <= size &&
                          view.data + view.nbytes <= image.data() + size;
      if (!inside || view.numel() < 0) std::abort();
      volatile std::byte sink{};
      if (view.nbytes > 0) sink = view.data[view.nbytes - 1];  // ASan checks the read
      (void)sink;
    }
  } catch (const mimo::Error&) {
  }
  return 0;
}
