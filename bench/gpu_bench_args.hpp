// mimo-bench's command line (gpu_bench.cu describes what each option measures).
#pragma once

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
};

// Parses argv; prints the usage and exits with 2 on anything it does not accept.
Args parse_args(int argc, char** argv);

}  // namespace mimo::bench
