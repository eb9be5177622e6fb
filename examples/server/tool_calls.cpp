// Tool-call format detection and extraction (tool_calls.hpp).
#include "server/tool_calls.hpp"

#include <nlohmann/json.hpp>

namespace mimo::server {

namespace {

constexpr std::string_view kOpen = "<tool_call>";
constexpr std::string_view kClose = "</tool_call>";

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

// Length of the longest suffix of `text` that is a proper prefix of `marker`.
std::size_t partial_marker_suffix(const std::string& text, std::string_view marker) {
  const std::size_t longest = std::min(text.size(), marker.size() - 1);
  for (std::size_t n = longest; n > 0; --n) {
    if (text.compare(text.size() - n, n, marker.data(), n) == 0) return n;
  }
  return 0;
}

std::optional<ParsedToolCall> parse_hermes(const std::string& block) {
  const nlohmann::json call = nlohmann::json::parse(trim(block), nullptr, false);
  if (!call.is_object()) return std::nullopt;
  auto name = call.find("name");
  if (name == call.end() || !name->is_string() || name->get<std::string>().empty()) {
    return std::nullopt;
  }
  auto arguments = call.find("arguments");
  if (arguments == call.end()) arguments = call.find("parameters");
  ParsedToolCall out{name->get<std::string>(), "{}"};
  if (arguments != call.end()) {
    if (arguments->is_string()) {
      out.arguments_json = arguments->get<std::string>();
    } else if (arguments->is_object()) {
      out.arguments_json =
          arguments->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      return std::nullopt;
    }
  }
  return out;
}

// <function=NAME> (<parameter=P> VALUE </parameter>)* </function>
std::optional<ParsedToolCall> parse_xml(const std::string& block) {
  const std::string text = trim(block);
  const std::string open = "<function=";
  if (text.rfind(open, 0) != 0) return std::nullopt;
  const auto name_end = text.find('>');
  const auto body_end = text.rfind("</function>");
  if (name_end == std::string::npos || body_end == std::string::npos || body_end < name_end) {
    return std::nullopt;
  }
  ParsedToolCall out;
  out.name = trim(text.substr(open.size(), name_end - open.size()));
  if (out.name.empty()) return std::nullopt;
  nlohmann::ordered_json arguments = nlohmann::ordered_json::object();
  std::size_t at = name_end + 1;
  while (true) {
    const auto p = text.find("<parameter=", at);
    if (p == std::string::npos || p >= body_end) break;
    const auto key_end = text.find('>', p);
    const auto value_end = text.find("</parameter>", key_end);
    if (key_end == std::string::npos || value_end == std::string::npos) return std::nullopt;
    const std::string key = trim(text.substr(p + 11, key_end - p - 11));
    std::string value = text.substr(key_end + 1, value_end - key_end - 1);
    // One newline on each side belongs to the layout, not the value.
    if (!value.empty() && value.front() == '\n') value.erase(0, 1);
    if (!value.empty() && value.back() == '\n') value.pop_back();
    auto parsed = nlohmann::ordered_json::parse(value, nullptr, false);
    arguments[key] = parsed.is_discarded() ? nlohmann::ordered_json(value) : parsed;
    at = value_end + 12;
  }
  out.arguments_json =
      arguments.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  return out;
}

}  // namespace

ToolCallFormat detect_tool_call_format(const std::string& source) {
  if (source.find("tools") == std::string::npos) return ToolCallFormat::kNone;
  if (source.find("<function=") != std::string::npos) return ToolCallFormat::kXml;
  return ToolCallFormat::kHermes;
}

const char* to_string(ToolCallFormat format) {
  switch (format) {
    case ToolCallFormat::kNone:
      return "none";
    case ToolCallFormat::kHermes:
      return "hermes";
    case ToolCallFormat::kXml:
      return "xml";
  }
  return "?";
}

std::optional<ParsedToolCall> parse_tool_call_block(ToolCallFormat format,
                                                    const std::string& block) {
  switch (format) {
    case ToolCallFormat::kHermes:
      return parse_hermes(block);
    case ToolCallFormat::kXml:
      return parse_xml(block);
    case ToolCallFormat::kNone:
      break;
  }
  return std::nullopt;
}

std::string forced_call_prefix(ToolCallFormat format, const std::string& name) {
  const std::string open = std::string(kOpen) + "\n";
  switch (format) {
    case ToolCallFormat::kHermes:
      return open + (name.empty()
                         ? std::string(R"({"name": ")")
                         : R"({"name": )" +
                               nlohmann::json(name).dump(-1, ' ', false,
                                                         nlohmann::json::error_handler_t::replace) +
                               R"(, "arguments": )");
    case ToolCallFormat::kXml:
      return open + "<function=" + (name.empty() ? std::string() : name + ">\n");
    case ToolCallFormat::kNone:
      break;
  }
  return {};
}

std::vector<ExtractedPiece> ToolCallExtractor::push(const std::string& text) {
  std::vector<ExtractedPiece> out;
  buffer_ += text;
  if (format_ == ToolCallFormat::kNone) {
    if (!buffer_.empty()) out.push_back({std::move(buffer_), std::nullopt});
    buffer_.clear();
    return out;
  }
  while (true) {
    if (!in_block_) {
      const auto open = buffer_.find(kOpen);
      if (open == std::string::npos) {
        const std::size_t keep = partial_marker_suffix(buffer_, kOpen);
        if (buffer_.size() > keep) {
          out.push_back({buffer_.substr(0, buffer_.size() - keep), std::nullopt});
          buffer_.erase(0, buffer_.size() - keep);
        }
        return out;
      }
      if (open > 0) out.push_back({buffer_.substr(0, open), std::nullopt});
      buffer_.erase(0, open);
      in_block_ = true;
    }
    const auto close = buffer_.find(kClose);
    if (close == std::string::npos) return out;
    const std::size_t end = close + kClose.size();
    auto call = parse_tool_call_block(format_, buffer_.substr(kOpen.size(), close - kOpen.size()));
    if (call) {
      ++calls_;
      out.push_back({"", std::move(call)});
    } else {
      out.push_back({buffer_.substr(0, end), std::nullopt});
    }
    buffer_.erase(0, end);
    in_block_ = false;
  }
}

std::vector<ExtractedPiece> ToolCallExtractor::finish() {
  std::vector<ExtractedPiece> out;
  if (!buffer_.empty()) out.push_back({std::move(buffer_), std::nullopt});
  buffer_.clear();
  in_block_ = false;
  return out;
}

}  // namespace mimo::server
