// Whole-file reads of metadata files (see text_file.hpp).
#include "io/text_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "mimo/error.hpp"

namespace mimo::io {

namespace {

// Closes the descriptor on every way out.
struct Descriptor {
  int fd;
  ~Descriptor() {
    if (fd >= 0) ::close(fd);
  }
};

Error os_error(const std::string& path, const char* what) {
  return Error(ErrorCode::kIo,
               fmt::format("{}: {}: {}", path, what, std::generic_category().message(errno)));
}

}  // namespace

std::string read_text_file(const std::string& path) {
  // O_NONBLOCK: opening a FIFO without a writer must not wait for one (it is refused below).
  const Descriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
  if (file.fd < 0) throw os_error(path, "cannot open for reading");
  struct stat info {};
  if (::fstat(file.fd, &info) != 0) throw os_error(path, "cannot stat");
  if (!S_ISREG(info.st_mode)) {
    throw Error(ErrorCode::kIo,
                fmt::format("{}: not a regular file ({})", path,
                            S_ISDIR(info.st_mode) ? "a directory" : "a FIFO, socket or device"));
  }
  const auto size = static_cast<std::uint64_t>(info.st_size);
  if (size > kMaxTextFileBytes) {
    throw Error(ErrorCode::kInvalidFile,
                fmt::format("{}: {} bytes, more than the {}-byte limit for a metadata file", path,
                            size, kMaxTextFileBytes));
  }
  std::string text(static_cast<std::size_t>(size), '\0');
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::read(file.fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw os_error(path, "read failed");
    if (n == 0) break;  // shrank while being read
    done += static_cast<std::size_t>(n);
  }
  text.resize(done);
  return text;
}

}  // namespace mimo::io
