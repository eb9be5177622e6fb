// Strict JSON parsing: duplicate keys and deep nesting are errors. A SAX handler builds the DOM
// itself, so the checks cost one map insertion per key (which the DOM needs anyway): no parse
// callback (nlohmann's copies every key into a json value to pass it) and no set of seen keys.
#include "io/strict_json.hpp"

#include <fmt/format.h>

#include <vector>

#include "mimo/error.hpp"

namespace mimo::io {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxDepth = 64;

class StrictDomBuilder {
 public:
  StrictDomBuilder(json& root, const std::string& label) : root_(root), label_(label) {}

  bool null() { return add(nullptr) != nullptr; }
  bool boolean(bool value) { return add(value) != nullptr; }
  bool number_integer(json::number_integer_t value) { return add(value) != nullptr; }
  bool number_unsigned(json::number_unsigned_t value) { return add(value) != nullptr; }
  bool number_float(json::number_float_t value, const std::string&) {
    return add(value) != nullptr;
  }
  bool string(json::string_t& value) { return add(std::move(value)) != nullptr; }
  bool binary(json::binary_t& value) { return add(std::move(value)) != nullptr; }

  bool start_object(std::size_t) { return open(json::value_t::object); }
  bool start_array(std::size_t) { return open(json::value_t::array); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  // The member slot is created here: a key already in the object is the duplicate.
  bool key(json::string_t& name) {
    auto& members = open_.back()->get_ref<json::object_t&>();
    const auto [slot, inserted] = members.try_emplace(std::move(name));
    if (!inserted) {
      throw Error(ErrorCode::kInvalidFile,
                  fmt::format("{}: duplicate JSON key \"{}\"", label_, slot->first));
    }
    member_ = &slot->second;
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    throw Error(ErrorCode::kInvalidFile, fmt::format("{}: invalid JSON: {}", label_, e.what()));
  }

 private:
  // Places a value: the root, the next element of the innermost array, or the member whose key
  // came last.
  template <typename Value>
  json* add(Value&& value) {
    if (open_.empty()) {
      root_ = json(std::forward<Value>(value));
      return &root_;
    }
    json& parent = *open_.back();
    if (parent.is_array()) {
      auto& elements = parent.get_ref<json::array_t&>();
      elements.emplace_back(std::forward<Value>(value));
      return &elements.back();
    }
    *member_ = json(std::forward<Value>(value));
    return member_;
  }

  bool open(json::value_t type) {
    if (open_.size() == kMaxDepth) {
      throw Error(ErrorCode::kInvalidFile,
                  fmt::format("{}: JSON nested deeper than {} levels", label_, kMaxDepth));
    }
    // The containers on the stack are not touched until this one closes, so the pointer holds.
    open_.push_back(add(type));
    return true;
  }

  bool close() {
    open_.pop_back();
    return true;
  }

  json& root_;
  const std::string& label_;
  std::vector<json*> open_;  // the containers being filled, innermost last
  json* member_ = nullptr;   // the slot of the last key
};

}  // namespace

nlohmann::json parse_json_strict(std::string_view text, const std::string& label) {
  json root;
  StrictDomBuilder builder(root, label);
  try {
    json::sax_parse(text.begin(), text.end(), &builder);
  } catch (const json::exception& e) {
    throw Error(ErrorCode::kInvalidFile, fmt::format("{}: invalid JSON: {}", label, e.what()));
  }
  return root;
}

}  // namespace mimo::io
