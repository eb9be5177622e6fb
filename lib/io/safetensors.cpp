// Safetensors header validation and the mmap-backed file.
//
// Validation follows the reference reader (huggingface/safetensors tensor.rs) and is stricter
// where the spec is silent: every byte of the data section must belong to exactly one tensor.
#include "io/safetensors.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <limits>
#include <system_error>

#include "io/strict_json.hpp"
#include "mimo/error.hpp"

namespace mimo::io {
namespace {

using nlohmann::json;

// The reference reader's limit; real headers are a few MB even for 1T-parameter shards.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

template <typename... Args>
Error invalid(fmt::format_string<Args...> format, Args&&... args) {
  return Error(ErrorCode::kInvalidFile, fmt::format(format, std::forward<Args>(args)...));
}

std::uint64_t read_le64(const std::byte* bytes) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<std::uint8_t>(bytes[i]);
  return value;
}

std::string known_dtypes() {
  std::string names;
  for (int i = 0; i <= static_cast<int>(DType::kF8_E8M0); ++i) {
    if (!names.empty()) names += ", ";
    names += dtype_name(static_cast<DType>(i));
  }
  return names;
}

// A JSON number that must be a non-negative integer representable in uint64.
std::optional<std::uint64_t> as_unsigned(const json& value) {
  if (value.is_number_unsigned()) return value.get<std::uint64_t>();
  if (value.is_number_integer() && value.get<std::int64_t>() >= 0) {
    return static_cast<std::uint64_t>(value.get<std::int64_t>());
  }
  return std::nullopt;
}

struct Context {
  const std::string& label;
  const std::string& name;
};

DType parse_entry_dtype(const json& value, const Context& at) {
  if (!value.is_string()) {
    throw invalid("{}: tensor \"{}\": dtype must be a string, found {}", at.label, at.name,
                  value.dump());
  }
  const auto& text = value.get_ref<const std::string&>();
  std::optional<DType> dtype = parse_dtype(text);
  if (!dtype) {
    throw invalid("{}: tensor \"{}\": unknown dtype \"{}\" (expected one of {})", at.label, at.name,
                  text, known_dtypes());
  }
  return *dtype;
}

std::vector<std::int64_t> parse_entry_shape(const json& value, const Context& at) {
  if (!value.is_array()) {
    throw invalid("{}: tensor \"{}\": shape must be an array of non-negative integers, found {}",
                  at.label, at.name, value.dump());
  }
  std::vector<std::int64_t> shape;
  for (std::size_t i = 0; i < value.size(); ++i) {
    std::optional<std::uint64_t> dim = as_unsigned(value[i]);
    if (!dim || *dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      throw invalid("{}: tensor \"{}\": shape dimension {} is {}, expected a non-negative integer",
                    at.label, at.name, i, value[i].dump());
    }
    shape.push_back(static_cast<std::int64_t>(*dim));
  }
  return shape;
}

// Bytes a tensor of `shape` and `dtype` occupies; nullopt when that overflows 64 bits. Every
// partial element count must also fit int64, so TensorView::numel() never overflows.
std::optional<std::uint64_t> byte_size(const std::vector<std::int64_t>& shape, DType dtype) {
  constexpr auto kMaxNumel = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  std::uint64_t numel = 1;
  for (std::int64_t dim : shape) {
    if (__builtin_mul_overflow(numel, static_cast<std::uint64_t>(dim), &numel) ||
        numel > kMaxNumel) {
      return std::nullopt;
    }
  }
  std::uint64_t total = 0;
  if (__builtin_mul_overflow(numel, dtype_size(dtype), &total)) return std::nullopt;
  return total;
}

struct Span {
  std::uint64_t begin;
  std::uint64_t end;
};

Span parse_entry_offsets(const json& value, const Context& at) {
  std::optional<std::uint64_t> begin, end;
  if (value.is_array() && value.size() == 2) {
    begin = as_unsigned(value[0]);
    end = as_unsigned(value[1]);
  }
  if (!begin || !end) {
    throw invalid(
        "{}: tensor \"{}\": data_offsets must be [begin, end] of non-negative integers, "
        "found {}",
        at.label, at.name, value.dump());
  }
  if (*begin > *end) {
    throw invalid("{}: tensor \"{}\": data_offsets [{}, {}] has begin > end", at.label, at.name,
                  *begin, *end);
  }
  return {*begin, *end};
}

TensorView parse_entry(const std::string& name, const json& entry, std::span<const std::byte> data,
                       const std::string& label) {
  const Context at{label, name};
  if (!entry.is_object()) {
    throw invalid("{}: tensor \"{}\": entry must be an object, found {}", label, name,
                  entry.dump());
  }
  for (const auto& [key, value] : entry.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      throw invalid(
          "{}: tensor \"{}\": unexpected field \"{}\" (expected dtype, shape, "
          "data_offsets)",
          label, name, key);
    }
  }
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!entry.contains(field)) {
      throw invalid("{}: tensor \"{}\": missing field \"{}\"", label, name, field);
    }
  }
  TensorView view;
  view.name = name;
  view.file = label;
  view.dtype = parse_entry_dtype(entry["dtype"], at);
  view.shape = parse_entry_shape(entry["shape"], at);
  const Span span = parse_entry_offsets(entry["data_offsets"], at);
  const std::optional<std::uint64_t> expected = byte_size(view.shape, view.dtype);
  if (!expected) {
    throw invalid("{}: tensor \"{}\": shape {} of {} overflows a 64-bit byte count", label, name,
                  shape_string(view.shape), dtype_name(view.dtype));
  }
  if (*expected != span.end - span.begin) {
    throw invalid(
        "{}: tensor \"{}\": shape {} of {} needs {} bytes but data_offsets [{}, {}] "
        "span {}",
        label, name, shape_string(view.shape), dtype_name(view.dtype), *expected, span.begin,
        span.end, span.end - span.begin);
  }
  if (span.end > data.size()) {
    throw invalid(
        "{}: tensor \"{}\": data_offsets [{}, {}] run past the end of the {}-byte data "
        "section",
        label, name, span.begin, span.end, data.size());
  }
  view.data = data.data() + span.begin;
  view.nbytes = static_cast<std::size_t>(*expected);
  return view;
}

std::map<std::string, std::string> parse_metadata(const json& value, const std::string& label) {
  if (!value.is_object()) {
    throw invalid("{}: __metadata__ must be an object of strings, found {}", label, value.dump());
  }
  std::map<std::string, std::string> metadata;
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) {
      throw invalid("{}: __metadata__ \"{}\" must be a string, found {}", label, key, item.dump());
    }
    metadata.emplace(key, item.get<std::string>());
  }
  return metadata;
}

// The data section must be tiled exactly: sorted by offset, each tensor starts where the
// previous one ended, the first at 0, the last at the end of the file.
void check_layout(const std::map<std::string, TensorView>& tensors, const std::byte* data_begin,
                  std::size_t data_size, const std::string& label) {
  std::vector<const TensorView*> order;
  for (const auto& [name, view] : tensors) order.push_back(&view);
  std::sort(order.begin(), order.end(), [](const TensorView* a, const TensorView* b) {
    return a->data != b->data ? a->data < b->data : a->nbytes < b->nbytes;
  });
  std::uint64_t covered = 0;
  const TensorView* previous = nullptr;
  for (const TensorView* view : order) {
    const std::uint64_t begin = static_cast<std::uint64_t>(view->data - data_begin);
    if (begin < covered) {
      throw invalid(
          "{}: tensor \"{}\" (data_offsets [{}, {}]) overlaps tensor \"{}\" (which "
          "ends at {})",
          label, view->name, begin, begin + view->nbytes, previous->name, covered);
    }
    if (begin > covered) {
      throw invalid("{}: {}-byte gap before tensor \"{}\" at data offset {} (expected {})", label,
                    begin - covered, view->name, begin, covered);
    }
    covered = begin + view->nbytes;
    previous = view;
  }
  if (covered != data_size) {
    throw invalid(
        "{}: {} trailing bytes after the last tensor (data section is {} bytes, "
        "tensors end at {})",
        label, data_size - covered, data_size, covered);
  }
}

}  // namespace

SafetensorsHeader parse_safetensors(std::span<const std::byte> image, const std::string& label) {
  if (image.size() < 8) {
    throw invalid("{}: file is {} bytes, shorter than the 8-byte header length", label,
                  image.size());
  }
  const std::uint64_t header_size = read_le64(image.data());
  if (header_size == 0) throw invalid("{}: header length is 0", label);
  if (header_size > kMaxHeaderBytes) {
    throw invalid("{}: header length {} exceeds the {}-byte limit", label, header_size,
                  kMaxHeaderBytes);
  }
  if (header_size > image.size() - 8) {
    throw invalid("{}: header length {} runs past the end of the {}-byte file", label, header_size,
                  image.size());
  }
  const std::string_view text(reinterpret_cast<const char*>(image.data() + 8), header_size);
  if (text.front() != '{') {
    throw invalid("{}: header must be a JSON object starting with '{{', found byte 0x{:02x}", label,
                  static_cast<unsigned char>(text.front()));
  }
  const json header = parse_json_strict(text, label + " header");
  if (!header.is_object()) throw invalid("{}: header is not a JSON object", label);

  const std::span<const std::byte> data = image.subspan(8 + header_size);
  SafetensorsHeader result;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      result.metadata = parse_metadata(entry, label);
    } else {
      result.tensors.emplace(name, parse_entry(name, entry, data, label));
    }
  }
  check_layout(result.tensors, data.data(), data.size(), label);
  return result;
}

std::shared_ptr<const SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  const auto os_error = [&](const char* what) {
    return Error(ErrorCode::kIo,
                 fmt::format("{}: {}: {}", path, what, std::generic_category().message(errno)));
  };
  // O_NONBLOCK: a FIFO without a writer must not block the open (it is refused below).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw os_error("cannot open");
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const Error error = os_error("cannot stat");
    ::close(fd);
    throw error;
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    throw Error(ErrorCode::kIo, fmt::format("{}: not a regular file", path));
  }
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->size_ = static_cast<std::size_t>(info.st_size);
  if (file->size_ > 0) {
    // No madvise here: shards can exceed RAM, so the loader decides what to fault in and when.
    void* mapping = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapping == MAP_FAILED) {
      const Error error = os_error("cannot mmap");
      ::close(fd);
      throw error;
    }
    file->mapping_ = mapping;
  }
  ::close(fd);  // the mapping keeps the file referenced
  const std::span<const std::byte> image(static_cast<const std::byte*>(file->mapping_),
                                         file->size_);
  file->header_ = parse_safetensors(image, path);
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (mapping_ != nullptr) ::munmap(mapping_, size_);
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
  const auto it = header_.tensors.find(name);
  return it == header_.tensors.end() ? nullptr : &it->second;
}

}  // namespace mimo::io
