// Smallest host application: links the installed libmimo, inspects and runs a checkpoint.
#include <cstdio>

#include "mimo/mimo.hpp"  // the umbrella header: the whole public API

int main(int argc, char** argv) {
  std::printf("libmimo %s (CUDA backend: %s)\n", mimo::version(),
              mimo::built_with_cuda() ? "yes" : "no");
  if (argc < 2) return 0;
  try {
    mimo::CheckpointInfo info = mimo::inspect_checkpoint(argv[1]);
    std::printf("%s: %d layers, %llu parameters\n", info.architecture.c_str(), info.num_layers,
                static_cast<unsigned long long>(info.total_parameters));
    auto model = mimo::Model::load(argv[1]);
    auto session = model->new_session();
    mimo::Sampler sampler(mimo::SamplerConfig{});
    mimo::GenerateOptions options;
    options.max_tokens = 4;
    auto result = session->generate({1, 2, 3}, sampler, options);
    std::printf("generated %zu tokens on %s\n", result.tokens.size(),
                model->summary().device.c_str());
    return result.tokens.size() == 4 ? 0 : 1;
  } catch (const mimo::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
