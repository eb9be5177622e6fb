// mimo-bench's command line (gpu_bench_args.hpp).
#include "gpu_bench_args.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "exec/executor.hpp"

namespace mimo::bench {
namespace {

// "16,64,256" -> {16, 64, 256}.
std::vector<int> int_list(const std::string& text) {
  std::vector<int> values;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    const std::size_t end = std::min(text.find(',', begin), text.size());
    values.push_back(std::stoi(text.substr(begin, end - begin)));
    begin = end + 1;
  }
  return values;
}

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: mimo-bench (--synthetic | -m DIR) [--layers N] [--experts E] "
               "[--context C] [--verify B] [--steps S] [--prefill-chunk N[,N...]] "
               "[--prefill-runs R] [--profile] [--no-pdl] [--no-sampling] [--out FILE] "
               "[--draft DIR [--generate N]] [--engine-probe] "
               "[--engine stream|persistent|persistent-paged [--timeline FILE]]\n");
  std::exit(2);
}

}  // namespace

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (k == "--synthetic")
      a.synthetic = true;
    else if (k == "-m")
      a.model_dir = value();
    else if (k == "--layers")
      a.layers = std::stoi(value());
    else if (k == "--experts")
      a.experts = std::stoi(value());
    else if (k == "--context")
      a.context = std::stoi(value());
    else if (k == "--verify")
      a.verify = std::stoi(value());
    else if (k == "--steps")
      a.steps = std::stoi(value());
    else if (k == "--prefill-chunk")
      a.prefill_chunks = int_list(value());
    else if (k == "--prefill-runs")
      a.prefill_runs = std::stoi(value());
    else if (k == "--profile")
      a.profile = true;
    else if (k == "--no-sampling")
      a.sampling = false;
    else if (k == "--no-pdl")
      a.programmatic_launch = false;
    else if (k == "--out")
      a.out = value();
    else if (k == "--draft")
      a.draft_dir = value();
    else if (k == "--generate")
      a.generate_tokens = std::stoi(value());
    else if (k == "--engine-probe")
      a.engine_probe = true;
    else if (k == "--timeline")
      a.timeline = value();
    else if (k == "--engine") {
      const std::string e = value();
      if (e != "stream" && e != "persistent" && e != "persistent-paged") usage();
      a.persistent = e != "stream";
      a.paged = e == "persistent-paged";
    } else
      usage();
  }
  if (a.synthetic == !a.model_dir.empty()) usage();
  if (!a.draft_dir.empty() && a.synthetic) usage();
  if (!a.timeline.empty() && !a.persistent) usage();
  if (a.layers < 2 || a.experts < 8 || a.context < 1 || a.verify < 1 || a.steps < 1 ||
      a.prefill_runs < 1 || a.prefill_chunks.empty())
    usage();
  for (int chunk : a.prefill_chunks) {
    if (chunk < 1 || chunk > exec::kMaxChunkTokens) usage();
  }
  return a;
}

}  // namespace mimo::bench
