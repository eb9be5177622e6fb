// Quantizer rule parsing, glob matching and the linear-projection name table.
#include "quant/quant_rules.hpp"

#include <fmt/format.h>

#include <array>

#include "mimo/error.hpp"

namespace mimo::quant {
namespace {

struct FormatName {
  std::string_view name;
  TargetFormat format;
};
constexpr std::array<FormatName, 4> kFormatNames = {{{"mxfp4", TargetFormat::kMxfp4},
                                                     {"fp8", TargetFormat::kFp8Block},
                                                     {"bf16", TargetFormat::kBf16},
                                                     {"keep", TargetFormat::kKeep}}};

// Projections a layer may hold, relative to "model.layers.{i}.".
constexpr std::array<std::string_view, 8> kLayerProjections = {
    "self_attn.q_proj",   "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "self_attn.qkv_proj", "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
constexpr std::array<std::string_view, 3> kExpertProjections = {"gate_proj", "up_proj",
                                                                "down_proj"};

bool is_index(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Consumes "<digits>." at the front of `rest`.
bool take_index(std::string_view& rest) {
  const std::size_t dot = rest.find('.');
  if (dot == std::string_view::npos || !is_index(rest.substr(0, dot))) return false;
  rest.remove_prefix(dot + 1);
  return true;
}

bool glob_match(std::string_view pattern, std::string_view text) {
  // Iterative matcher with single-star backtracking: linear in practice, no recursion.
  std::size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace

std::string_view target_format_name(TargetFormat format) {
  for (const FormatName& entry : kFormatNames) {
    if (entry.format == format) return entry.name;
  }
  return "?";
}

QuantRule parse_quant_rule(const std::string& text) {
  const std::size_t eq = text.rfind('=');
  if (eq == std::string::npos) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("quantize rule '{}': expected PATTERN=FORMAT (FORMAT one of mxfp4, "
                            "fp8, bf16, keep), e.g. 'experts=mxfp4' or '*.o_proj=bf16'",
                            text));
  }
  const std::string pattern = text.substr(0, eq);
  const std::string format = text.substr(eq + 1);
  if (pattern.empty()) {
    throw Error(
        ErrorCode::kInvalidArgument,
        fmt::format("quantize rule '{}': empty pattern before '=' (use '*' for all)", text));
  }
  for (const FormatName& entry : kFormatNames) {
    if (entry.name == format) return {pattern, entry.format};
  }
  throw Error(ErrorCode::kInvalidArgument,
              fmt::format("quantize rule '{}': unknown format '{}' (expected mxfp4, fp8, bf16 or "
                          "keep)",
                          text, format));
}

const std::vector<QuantRule>& default_quant_rules() {
  static const std::vector<QuantRule> rules = {{"mlp.experts.", TargetFormat::kMxfp4},
                                               {"*", TargetFormat::kFp8Block}};
  return rules;
}

bool rule_matches(std::string_view pattern, std::string_view module) {
  if (pattern.find_first_of("*?") != std::string_view::npos) return glob_match(pattern, module);
  return module.find(pattern) != std::string_view::npos;
}

std::optional<std::string> quantizable_module(std::string_view tensor_name) {
  constexpr std::string_view kLayers = "model.layers.";
  constexpr std::string_view kWeight = ".weight";
  if (tensor_name.substr(0, kLayers.size()) != kLayers) return std::nullopt;
  if (tensor_name.size() < kWeight.size() ||
      tensor_name.substr(tensor_name.size() - kWeight.size()) != kWeight) {
    return std::nullopt;
  }
  const std::string_view module = tensor_name.substr(0, tensor_name.size() - kWeight.size());
  std::string_view rest = module.substr(kLayers.size());
  if (!take_index(rest)) return std::nullopt;
  for (std::string_view projection : kLayerProjections) {
    if (rest == projection) return std::string(module);
  }
  constexpr std::string_view kExperts = "mlp.experts.";
  if (rest.substr(0, kExperts.size()) != kExperts) return std::nullopt;
  rest.remove_prefix(kExperts.size());
  if (!take_index(rest)) return std::nullopt;
  for (std::string_view projection : kExpertProjections) {
    if (rest == projection) return std::string(module);
  }
  return std::nullopt;
}

bool is_expert_module(std::string_view module) {
  return module.find(".mlp.experts.") != std::string_view::npos;
}

TargetFormat choose_format(const std::vector<QuantRule>& rules, std::string_view module) {
  for (const std::vector<QuantRule>* list : {&rules, &default_quant_rules()}) {
    for (const QuantRule& rule : *list) {
      if (rule_matches(rule.pattern, module)) return rule.format;
    }
  }
  return TargetFormat::kKeep;
}

}  // namespace mimo::quant
