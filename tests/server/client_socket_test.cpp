// Finding a request's own socket and noticing that its client left
// (examples/server/client_socket.hpp), on a real loopback TCP connection.
#include "server/client_socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support/catch.hpp"

using mimo::server::ClientSocket;

namespace {

int port_of(int fd, bool peer) {
  sockaddr_in address{};
  socklen_t length = sizeof(address);
  auto* raw = reinterpret_cast<sockaddr*>(&address);
  REQUIRE((peer ? getpeername(fd, raw, &length) : getsockname(fd, raw, &length)) == 0);
  return ntohs(address.sin_port);
}

// A listening socket, a client connected to it and the server's end of that connection.
struct Connection {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  int client = socket(AF_INET, SOCK_STREAM, 0);
  int server = -1;
  Connection() {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    auto* raw = reinterpret_cast<sockaddr*>(&address);
    REQUIRE(bind(listener, raw, sizeof(address)) == 0);
    REQUIRE(listen(listener, 1) == 0);
    address.sin_port = htons(static_cast<std::uint16_t>(port_of(listener, false)));
    REQUIRE(connect(client, raw, sizeof(address)) == 0);
    server = accept(listener, nullptr, nullptr);
    REQUIRE(server >= 0);
  }
  ~Connection() {
    for (int fd : {listener, client, server}) {
      if (fd >= 0) close(fd);
    }
  }
};

}  // namespace

TEST_CASE("client socket: found by the request's addresses, closed once the client leaves") {
  Connection c;
  const int local_port = port_of(c.server, false);
  const int remote_port = port_of(c.server, true);
  const ClientSocket socket("127.0.0.1", local_port, "127.0.0.1", remote_port);
  REQUIRE(socket.found());
  CHECK(socket.fd() == c.server);
  CHECK_FALSE(socket.closed());
  // Bytes the client sends (a pipelined request) are not a close.
  REQUIRE(write(c.client, "x", 1) == 1);
  usleep(20000);
  CHECK_FALSE(socket.closed());
  close(c.client);
  c.client = -1;
  usleep(20000);
  CHECK(socket.closed());
  CHECK(socket.closed());  // and stays so: nothing was consumed
}

TEST_CASE("client socket: another connection's addresses find nothing, and tell nothing") {
  Connection c;
  const ClientSocket socket("127.0.0.1", port_of(c.server, false), "127.0.0.1",
                            port_of(c.server, true) == 1 ? 2 : 1);
  CHECK_FALSE(socket.found());
  CHECK_FALSE(socket.closed());
  CHECK_FALSE(
      ClientSocket("10.9.8.7", port_of(c.server, false), "127.0.0.1", port_of(c.server, true))
          .found());
}
