// `mimo-cli quantize -m IN -o OUT [--rule PATTERN=FORMAT ...] [--shard-size MB]`: a BF16 / F32
// checkpoint to MXFP4 experts + FP8 block-scaled linears (by default), with a per-tensor error
// table and totals. Rule syntax: docs/formats.md, "Quantizer".
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "cli/commands.hpp"
#include "cli/number_flags.hpp"
#include "mimo/quantize.hpp"

namespace mimo::cli {

namespace {

struct QuantizeFlags {
  std::string input;
  std::string output;
  std::vector<std::string> rules;
  double shard_size_mb = 0.0;
  int threads = 0;
  bool overwrite = false;
  bool quiet = false;
};

std::string mib(std::uint64_t bytes) {
  return fmt::format("{:.2f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

void print_row(const TensorQuantStats& s) {
  const std::string format = s.format == "keep" ? s.input_dtype : s.format;
  fmt::print("{:<56} {:<12} {:>5} -> {:<5} {:>10.3e} {:>10.3e} {:>10} -> {:>10}{}\n", s.name,
             shape_text(s.shape), s.input_dtype, format, s.relative_l2_error, s.max_abs_error,
             s.bytes_before, s.bytes_after, s.note.empty() ? "" : "  (" + s.note + ")");
}

struct FormatTotals {
  int tensors = 0;
  std::uint64_t bytes_before = 0, bytes_after = 0;
  double sum_relative_l2 = 0.0, max_relative_l2 = 0.0, max_abs = 0.0;
};

void print_totals(const QuantizeReport& report) {
  std::map<std::string, FormatTotals> by_format;
  for (const TensorQuantStats& s : report.tensors) {
    FormatTotals& t = by_format[s.format == "keep" ? "keep " + s.input_dtype : s.format];
    ++t.tensors;
    t.bytes_before += s.bytes_before;
    t.bytes_after += s.bytes_after;
    t.sum_relative_l2 += s.relative_l2_error;
    t.max_relative_l2 = std::max(t.max_relative_l2, s.relative_l2_error);
    t.max_abs = std::max(t.max_abs, s.max_abs_error);
  }
  fmt::print("\n{:<10} {:>7} {:>14} {:>14} {:>12} {:>12} {:>12}\n", "format", "tensors", "before",
             "after", "mean rel L2", "max rel L2", "max abs err");
  for (const auto& [format, t] : by_format) {
    fmt::print("{:<10} {:>7} {:>14} {:>14} {:>12.3e} {:>12.3e} {:>12.3e}\n", format, t.tensors,
               mib(t.bytes_before), mib(t.bytes_after), t.sum_relative_l2 / t.tensors,
               t.max_relative_l2, t.max_abs);
  }
  const double ratio = report.bytes_after > 0 ? static_cast<double>(report.bytes_before) /
                                                    static_cast<double>(report.bytes_after)
                                              : 0.0;
  fmt::print("total      {:>7} {:>14} {:>14}  ({:.2f}x smaller)\n", report.tensors.size(),
             mib(report.bytes_before), mib(report.bytes_after), ratio);
  fmt::print("shards     {}\n", fmt::join(report.shards, ", "));
  if (!report.copied_files.empty()) {
    fmt::print("copied     {}\n", fmt::join(report.copied_files, ", "));
  }
  fmt::print("quantization_config {}\n",
             report.quantization_config_json.empty() ? "(none)" : report.quantization_config_json);
}

int run_quantize(const QuantizeFlags& flags) {
  QuantizeOptions options;
  options.rules = flags.rules;
  options.shard_size_bytes = static_cast<std::uint64_t>(flags.shard_size_mb * 1024.0 * 1024.0);
  options.num_threads = flags.threads;
  options.overwrite = flags.overwrite;
  bool header_printed = false;  // printed with the first row, so errors come out alone
  const QuantizeReport report =
      quantize_checkpoint(flags.input, flags.output, options, [&](const TensorQuantStats& s) {
        if (flags.quiet && s.note.empty()) return;
        if (!header_printed) {
          fmt::print("{:<56} {:<12} {:>14} {:>10} {:>10} {:>10}    {:>10}\n", "tensor", "shape",
                     "dtype -> fmt", "rel L2", "max abs", "bytes", "after");
          header_printed = true;
        }
        print_row(s);
        std::fflush(stdout);
      });
  print_totals(report);
  fmt::print("wrote {}\n", flags.output);
  return 0;
}

}  // namespace

Command register_quantize(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "quantize", "Quantize a BF16/F32 checkpoint: MXFP4 experts, FP8 block-scaled linears");
  auto flags = std::make_shared<QuantizeFlags>();
  sub->add_option("-m,--model", flags->input, "input checkpoint directory (BF16 / F32)")
      ->required();
  sub->add_option("-o,--output", flags->output, "output directory (created; must be empty)")
      ->required();
  sub->add_option("--rule", flags->rules,
                  "PATTERN=FORMAT (mxfp4, fp8, bf16, keep), repeatable, first match wins, "
                  "before the defaults experts=mxfp4 and *=fp8; PATTERN is a glob over the "
                  "module name when it has * or ?, else a substring (e.g. self_attn.o_proj=bf16)");
  add_number_option(*sub, "--shard-size", flags->shard_size_mb,
                    "shard size in MB (MiB); 0 = one model.safetensors")
      ->check(CLI::NonNegativeNumber);
  add_number_option(*sub, "-t,--threads", flags->threads, "threads (0 = all cores)")
      ->check(CLI::Range(0, 1024));
  sub->add_flag("--overwrite", flags->overwrite, "replace the checkpoint in a non-empty OUT");
  sub->add_flag("-q,--quiet", flags->quiet, "print only the totals (and fallbacks)");
  return {sub, [flags] { return run_quantize(*flags); }};
}

}  // namespace mimo::cli
