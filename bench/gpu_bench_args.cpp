// mimo-bench's command line (gpu_bench_args.hpp).
#include "gpu_bench_args.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "exec/executor.hpp"

namespace mimo::bench {
namespace {

// A rejected command line (thrown by parse, caught by try_parse_args).
struct Rejected {};

[[noreturn]] void reject() {
  throw Rejected{};
}

// A whole decimal int, else rejected.
int number(const std::string& text) {
  try {
    std::size_t used = 0;
    const int value = std::stoi(text, &used);
    if (used == text.size()) return value;
  } catch (const std::logic_error&) {  // invalid_argument, out_of_range
  }
  reject();
}

// "16,64,256" -> {16, 64, 256}.
std::vector<int> int_list(const std::string& text) {
  std::vector<int> values;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    const std::size_t end = std::min(text.find(',', begin), text.size());
    values.push_back(number(text.substr(begin, end - begin)));
    begin = end + 1;
  }
  return values;
}

Args parse(int argc, const char* const* argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) reject();
      return argv[++i];
    };
    if (k == "--synthetic")
      a.synthetic = true;
    else if (k == "-m")
      a.model_dir = value();
    else if (k == "--layers")
      a.layers = number(value());
    else if (k == "--experts")
      a.experts = number(value());
    else if (k == "--context")
      a.context = number(value());
    else if (k == "--verify")
      a.verify = number(value());
    else if (k == "--steps")
      a.steps = number(value());
    else if (k == "--prefill-chunk")
      a.prefill_chunks = int_list(value());
    else if (k == "--prefill-runs")
      a.prefill_runs = number(value());
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
      a.generate_tokens = number(value());
    else if (k == "--engine-probe")
      a.engine_probe = true;
    else if (k == "--timeline")
      a.timeline = value();
    else if (k == "--spec-eval")
      a.spec_eval_dir = value();
    else if (k == "--argmax-drafts")
      a.argmax_drafts = true;
    else if (k == "--most-drafts")
      a.most_drafts = true;
    else if (k == "--lookup-drafts")
      a.lookup_drafts = number(value());
    else if (k == "--draft-projection")
      a.draft_projection = true;
    else if (k == "--engine") {
      const std::string e = value();
      if (e != "stream" && e != "persistent" && e != "persistent-paged") reject();
      a.persistent = e != "stream";
      a.paged = e == "persistent-paged";
    } else
      reject();
  }
  if (a.synthetic == !a.model_dir.empty()) reject();
  if (!a.draft_dir.empty() && a.synthetic) reject();
  if (!a.timeline.empty() && !a.persistent) reject();
  if (!a.spec_eval_dir.empty() && (a.draft_dir.empty() || a.synthetic)) reject();
  if ((a.argmax_drafts || a.most_drafts || a.lookup_drafts > 0) && a.spec_eval_dir.empty()) {
    reject();
  }
  if (a.draft_projection && !a.synthetic) reject();
  if (a.layers < 2 || a.experts < 8 || a.context < 1 || a.verify < 1 || a.steps < 1 ||
      a.prefill_runs < 1 || a.generate_tokens < 1 || a.prefill_chunks.empty())
    reject();
  for (int chunk : a.prefill_chunks) {
    if (chunk < 1 || chunk > exec::kMaxChunkTokens) reject();
  }
  return a;
}

}  // namespace

std::optional<Args> try_parse_args(int argc, const char* const* argv) {
  try {
    return parse(argc, argv);
  } catch (const Rejected&) {
    return std::nullopt;
  }
}

Args parse_args(int argc, char** argv) {
  if (std::optional<Args> args = try_parse_args(argc, argv)) return *args;
  std::fprintf(
      stderr,
      "usage: mimo-bench (--synthetic | -m DIR) [--layers N] [--experts E] "
      "[--context C] [--verify B] [--steps S] [--prefill-chunk N[,N...]] "
      "[--prefill-runs R] [--profile] [--no-pdl] [--no-sampling] [--out FILE] "
      "[--draft DIR [--generate N] [--spec-eval PROMPTS_DIR [--argmax-drafts] [--most-drafts] "
      "[--lookup-drafts N]]] "
      "[--draft-projection] "
      "[--engine-probe] [--engine stream|persistent|persistent-paged [--timeline FILE]]\n"
      "  --spec-eval DIR: only the held-out evaluation of -m and --draft over the *.py "
      "prompts in DIR (--generate tokens each); --argmax-drafts: sampled DFlash "
      "proposes the drafter's argmax instead of drawing from it; --most-drafts: every "
      "step drafts the most (no adaptive count); --lookup-drafts N: the n-gram mode's most drafts "
      "(default 7)\n"
      "  --draft-projection (--synthetic): time a random MiMo-V2.5-Pro-shaped drafter "
      "and project speculative tok/s\n");
  std::exit(2);
}

}  // namespace mimo::bench
