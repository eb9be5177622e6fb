// Per-tensor precision rules of the checkpoint quantizer: "PATTERN=FORMAT" strings, which
// tensors are linear projections the rules may convert, and how a module picks its format.
// Syntax and defaults: docs/formats.md, "## Quantizer".
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mimo::quant {

enum class TargetFormat {
  kMxfp4,     // U8 E2M1 codes + U8 E8M0 scales per 32 inputs
  kFp8Block,  // F8_E4M3 + F32 weight_scale_inv per block
  kBf16,      // BF16 (converted when stored in F32 / F16)
  kKeep,      // as stored
};

// "mxfp4", "fp8", "bf16", "keep".
std::string_view target_format_name(TargetFormat format);

struct QuantRule {
  std::string pattern;  // glob (with * or ?) over the whole module name, else a substring of it
  TargetFormat format;
};

// Parses "PATTERN=FORMAT". Throws mimo::Error(kInvalidArgument) quoting the rule on a missing
// '=', an empty pattern or an unknown format.
QuantRule parse_quant_rule(const std::string& text);

// Applied after the caller's rules: "mlp.experts.=mxfp4", then "*=fp8".
const std::vector<QuantRule>& default_quant_rules();

// True when `pattern` selects `module`: a pattern with '*' (any run of characters, dots
// included) or '?' (one character) must match the whole name; a plain pattern matches when it
// occurs anywhere in the name.
bool rule_matches(std::string_view pattern, std::string_view module);

// The module ("model.layers.3.self_attn.o_proj") when `tensor_name` is the weight of a linear
// projection the quantizer may convert: attention q/k/v/o or fused qkv, a dense MLP's
// gate/up/down, or a routed expert's gate/up/down. Embeddings, lm_head, norms, the router, its
// correction bias, sinks and model.mtp.* give nullopt: they are always kept as stored.
std::optional<std::string> quantizable_module(std::string_view tensor_name);

// True for modules under "...mlp.experts.".
bool is_expert_module(std::string_view module);

// The first of `rules`, then of default_quant_rules(), that matches `module`.
TargetFormat choose_format(const std::vector<QuantRule>& rules, std::string_view module);

}  // namespace mimo::quant
