// mimo-bench's command line (gpu_bench.cu describes what each option measures).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mimo/model.hpp"

namespace mimo::bench {

struct Args {
  std::string model_dir;
  bool synthetic = false;
  int layers = 48, experts = 64, context = 256, verify = 8, steps = 20;
  std::vector<int> prefill_chunks = {ModelOptions{}.prefill_chunk_tokens};
  int prefill_runs = 3;
  bool profile = false;
  bool sampling = true;  // --no-sampling: skip the decode + token / verify + rows lines (A/B runs)
  bool programmatic_launch = true;  // --no-pdl: plain stream order between kernels (A/B runs)
  std::string out;
  std::string draft_dir;  // with -m: also compare plain vs DFlash generation
  int generate_tokens = 256;
  bool engine_probe = false;  // --engine-probe: the persistent engine's scheduling cost only
  bool persistent = false;    // --engine persistent: steps on the persistent engine runner
  bool paged = false;         // --engine persistent-paged: projections through the page ring
  std::string timeline;       // --timeline FILE: one engine decode step's tasks as CSV
  // --spec-eval DIR (with -m and --draft): only the held-out speculative evaluation
  // (spec_eval.hpp) of the prompts in DIR on the GPU, --generate N tokens per prompt and mode.
  std::string spec_eval_dir;
  // --argmax-drafts (with --spec-eval): sampled DFlash proposes the drafter's argmax (one-hot)
  // instead of drawing drafts from its distribution (SpecEvalOptions::argmax_drafts).
  bool argmax_drafts = false;
  // --most-drafts (with --spec-eval): every speculative step drafts the most
  // (GenerateOptions::DraftLength::kMax) instead of the adaptive count.
  bool most_drafts = false;
  // --lookup-drafts N (with --spec-eval): the n-gram mode's most drafts
  // (SpecEvalOptions::lookup_drafts); 0: the default.
  int lookup_drafts = 0;
  // --draft-projection (with --synthetic): also a random drafter of MiMo-V2.5-Pro's drafter
  // shape, its draft pass and the verify step timed, and the tokens/s they imply
  // (draft_projection.hpp).
  bool draft_projection = false;
};

// Parses argv; nullopt for anything it does not accept.
std::optional<Args> try_parse_args(int argc, const char* const* argv);
// try_parse_args, or the usage on stderr and exit status 2.
Args parse_args(int argc, char** argv);

}  // namespace mimo::bench
