// mimo-bench's speculative section: plain vs DFlash generation on a real checkpoint + drafter
// through the public API (the target on the GPU), with the acceptance statistics.
#pragma once

#include <string>

namespace mimo::bench {

// Generates `tokens` tokens greedily after a fixed prompt, plainly and with the DFlash drafter in
// `drafter_dir`, `repeats` times each, and prints the medians and the acceptance statistics.
// Returns 0, or 1 when speculative output differs from plain output (losslessness broken).
int run_speculative_bench(const std::string& model_dir, const std::string& drafter_dir, int tokens,
                          int repeats);

}  // namespace mimo::bench
