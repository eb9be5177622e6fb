// Finding a request's socket and watching it for the client's close (client_socket.hpp).
#include "server/client_socket.hpp"

#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cerrno>
#include <cstdlib>

namespace mimo::server {

namespace {

// The numeric host and port of a socket address, as httplib writes them.
bool host_and_port(const sockaddr_storage& address, socklen_t length, std::string& host,
                   int& port) {
  char text[NI_MAXHOST];
  char service[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&address), length, text, sizeof(text), service,
                  sizeof(service), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return false;
  }
  host = text;
  port = std::atoi(service);
  return true;
}

bool is_connection(int fd, const std::string& local_addr, int local_port,
                   const std::string& remote_addr, int remote_port) {
  struct stat info {};
  if (fstat(fd, &info) != 0 || !S_ISSOCK(info.st_mode)) return false;
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  std::string host;
  int port = -1;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      !host_and_port(address, length, host, port) || port != local_port || host != local_addr) {
    return false;
  }
  length = sizeof(address);
  return getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0 &&
         host_and_port(address, length, host, port) && port == remote_port && host == remote_addr;
}

}  // namespace

ClientSocket::ClientSocket(const std::string& local_addr, int local_port,
                           const std::string& remote_addr, int remote_port) {
  DIR* fds = opendir("/proc/self/fd");
  if (!fds) return;
  while (const dirent* entry = readdir(fds)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == dirfd(fds)) continue;
    if (is_connection(static_cast<int>(fd), local_addr, local_port, remote_addr, remote_port)) {
      fd_ = static_cast<int>(fd);
      break;
    }
  }
  closedir(fds);
}

bool ClientSocket::closed() const {
  if (fd_ < 0) return false;
  pollfd watch{fd_, POLLIN | POLLRDHUP, 0};
  if (poll(&watch, 1, 0) <= 0) return false;
  if (watch.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
  char byte = 0;
  const ssize_t n = recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

}  // namespace mimo::server
