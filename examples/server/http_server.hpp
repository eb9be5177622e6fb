// mimo-server's HTTP surface on cpp-httplib: the OpenAI routes, API-key check, body limit,
// OpenAI-style errors for everything that goes wrong, streaming, and graceful shutdown.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "server/generation.hpp"
#include "server/metrics.hpp"
#include "server/step_scheduler.hpp"

namespace httplib {
class Server;
class DataSink;
struct Request;
struct Response;
}  // namespace httplib

namespace mimo::server {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8080;      // 0: any free port (the one taken is printed)
  std::string api_key;  // empty: no authentication
  std::size_t max_body_bytes = 8u << 20;
  int slots = 4;
  int max_waiting = 64;
  std::chrono::seconds shutdown_grace{10};
};

class HttpServer {
 public:
  HttpServer(ServedModel& served, const HttpOptions& options);
  ~HttpServer();

  // Binds and serves until shut_down() finishes; false when the address cannot be bound.
  bool run();
  int bound_port() const { return port_; }
  // Stops admitting requests (503), lets admitted ones finish within the grace period, cancels
  // the rest at their next step, then stops the listener. Callable from any thread.
  void shut_down();

 private:
  struct PendingGeneration;
  void install_routes();
  // POST /v1/chat/completions and /v1/completions: parse, admit, wait for a slot, then answer
  // whole (with the real status of a failure) or streamed.
  void serve_generation(Endpoint endpoint, const httplib::Request& req, httplib::Response& res);
  GenerationOutcome run_generation(PendingGeneration& pending,
                                   const std::function<bool(GenerationDelta&&)>& emit);
  bool stream_generation(PendingGeneration& pending, httplib::DataSink& sink);

  ServedModel& served_;
  HttpOptions options_;
  StepScheduler scheduler_;
  Metrics metrics_;
  std::unique_ptr<httplib::Server> http_;
  std::atomic<bool> draining_{false};
  int port_ = 0;
};

}  // namespace mimo::server
