// Whether the client of a request is still there, seen from inside a request handler.
//
// cpp-httplib (0.11, Debian's) gives a handler no access to its connection, and a response's
// status is on the wire before its content provider runs; so that a non-streamed answer can carry
// its real status (sent when the answer is complete), and a request waiting in the queue can
// notice that its client left, the handler finds its own socket: the one whose local and peer
// addresses are the request's (Linux: /proc/self/fd). The socket stays this handler's until it
// returns, so the descriptor cannot be reused meanwhile.
#pragma once

#include <string>

namespace mimo::server {

class ClientSocket {
 public:
  // The connection local_addr:local_port <-> remote_addr:remote_port (addresses as
  // getnameinfo(NI_NUMERICHOST) writes them, as httplib fills its Request). Not found (another
  // platform, or the connection already gone): closed() tells nothing and returns false.
  ClientSocket(const std::string& local_addr, int local_port, const std::string& remote_addr,
               int remote_port);
  explicit ClientSocket(int fd) : fd_(fd) {}

  bool found() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  // True once the client has closed (or reset) its side: a read would see end of file or an
  // error. Pipelined bytes waiting to be read do not count as closed. Never blocks.
  bool closed() const;

 private:
  int fd_ = -1;
};

}  // namespace mimo::server
