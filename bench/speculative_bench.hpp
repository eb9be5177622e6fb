// mimo-bench's speculative section: plain vs DFlash generation on a real checkpoint + drafter
// through the public API (the target on the GPU), with the acceptance statistics.
#pragma once

#include <string>

namespace mimo::bench {

// Generates `tokens` tokens after a fixed prompt, plainly and with the DFlash drafter in
// `drafter_dir`, `repeats` times each, and prints the medians and the acceptance statistics:
// greedily, then sampled (temperature 0.7) with the tokens drawn on the device and on the host.
// Returns 0, or 1 when greedy speculative output differs from plain output (losslessness broken)
// or device and host sampling disagree.
int run_speculative_bench(const std::string& model_dir, const std::string& drafter_dir, int tokens,
                          int repeats);

}  // namespace mimo::bench
