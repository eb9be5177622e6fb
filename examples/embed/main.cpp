// Embedding libmimo in a host application: load a model, run a greedy generation, stream the
// token ids, and stop on a condition of the host's choosing. (Shown in docs/api.md.)
#include <cstdio>
#include <mimo/mimo.hpp>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL_DIR\n", argv[0]);
    return 2;
  }
  try {
    mimo::ModelOptions options;
    options.device = mimo::Device::kAuto;  // the GPU when there is one
    options.max_context = 2048;
    std::shared_ptr<const mimo::Model> model = mimo::Model::load(argv[1], options);

    std::unique_ptr<mimo::Session> session = model->new_session();
    mimo::SamplerConfig sampling;  // temperature 0: greedy
    mimo::Sampler sampler(sampling);
    mimo::GenerateOptions generate;
    generate.max_tokens = 16;

    const std::vector<std::int32_t> prompt = {1, 2, 3, 4};
    mimo::GenerateResult result =
        session->generate(prompt, sampler, generate, [](const mimo::SampleResult& token) {
          std::printf("%d ", token.token);
          return true;  // false would stop generation here
        });
    std::printf("\n%zu tokens, %.1f tok/s decode\n", result.tokens.size(),
                session->stats().decode_tokens_per_second());
  } catch (const mimo::Error& e) {
    std::fprintf(stderr, "mimo error (%s): %s\n", mimo::to_string(e.code()), e.what());
    return 1;
  }
  return 0;
}
