// Routes, authentication, errors and streaming of mimo-server (http_server.hpp).
#include "server/http_server.hpp"

#include <fmt/format.h>
#include <httplib.h>

#include <cstdio>
#include <thread>

#include "server/api_error.hpp"
#include "server/api_key.hpp"
#include "server/client_socket.hpp"
#include "server/request.hpp"
#include "server/responses.hpp"

namespace mimo::server {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

void send_error(httplib::Response& res, const ApiError& error) {
  res.status = error.status;
  res.set_content(dump(error.to_json()), "application/json");
}

ApiError error_for_status(int status) {
  switch (status) {
    case 404:
      return ApiError(404, "Not found: no such route", "invalid_request_error", std::nullopt,
                      "not_found");
    case 405:
      return ApiError(405, "Method not allowed", "invalid_request_error", std::nullopt,
                      "method_not_allowed");
    case 413:
      return ApiError(413, "The request body is larger than the server's limit",
                      "invalid_request_error", std::nullopt, "request_too_large");
    default:
      return ApiError(status, fmt::format("HTTP error {}", status),
                      status >= 500 ? "server_error" : "invalid_request_error", std::nullopt,
                      std::nullopt);
  }
}

ApiError internal_error(const std::exception& e) {
  return ApiError(500, fmt::format("Internal server error: {}", e.what()), "server_error",
                  std::nullopt, "internal_error");
}

const char* endpoint_label(Endpoint endpoint) {
  return endpoint == Endpoint::kChat ? "/v1/chat/completions" : "/v1/completions";
}

// nginx's "client closed request": the status of requests whose client left before their answer
// was complete (sent, in case the client only closed its sending side, and counted).
ApiError client_closed_request() {
  return ApiError(499, "The client closed the connection before the answer was complete",
                  "invalid_request_error", std::nullopt, "client_closed_request");
}

ApiError shutting_down() {
  return ApiError(503, "The server is shutting down", "server_error", std::nullopt,
                  "shutting_down");
}

ApiError shut_down_during_generation() {
  return ApiError(503, "The server shut down during generation", "server_error", std::nullopt,
                  "shutting_down");
}

}  // namespace

// What a generation's answer needs; a streamed one's content provider owns it past the handler.
struct HttpServer::PendingGeneration {
  GenerationRequest request;
  std::vector<std::int32_t> prompt;
  std::unique_ptr<StepScheduler::Ticket> ticket;
  std::shared_ptr<ClientSocket> client;
  ResponseHeader header;
  Clock::time_point admitted;
  std::string echo_text;  // completions with echo: the prompt's text
};

HttpServer::HttpServer(ServedModel& served, const HttpOptions& options)
    : served_(served),
      options_(options),
      scheduler_(options.slots, options.max_waiting),
      http_(std::make_unique<httplib::Server>()) {
  // One worker thread per connection: every slot, every queue place, and a few for /health,
  // /metrics and requests that are refused at once.
  const std::size_t threads = static_cast<std::size_t>(options.slots + options.max_waiting + 8);
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_->set_payload_max_length(options.max_body_bytes);
  http_->set_read_timeout(std::chrono::seconds(30));
  install_routes();
}

HttpServer::~HttpServer() = default;

bool HttpServer::run() {
  if (options_.port == 0) {
    port_ = http_->bind_to_any_port(options_.host);
    if (port_ < 0) return false;
  } else {
    if (!http_->bind_to_port(options_.host, options_.port)) return false;
    port_ = options_.port;
  }
  std::fprintf(stderr, "mimo-server: serving '%s' on http://%s:%d\n", served_.name().c_str(),
               options_.host.c_str(), port_);
  std::fflush(stderr);
  return http_->listen_after_bind();
}

void HttpServer::shut_down() {
  if (draining_.exchange(true)) return;
  std::fprintf(stderr, "mimo-server: shutting down (finishing %d running, %d waiting)\n",
               scheduler_.running(), scheduler_.waiting());
  const auto deadline = Clock::now() + options_.shutdown_grace;
  while (Clock::now() < deadline && scheduler_.running() + scheduler_.waiting() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  scheduler_.shut_down();  // what is still running stops at its next step
  while (scheduler_.running() + scheduler_.waiting() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  http_->stop();
}

void HttpServer::install_routes() {
  httplib::Server& http = *http_;

  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (draining_ && req.path != "/metrics") {
      send_error(res, shutting_down());
      return httplib::Server::HandlerResponse::Handled;
    }
    if (options_.api_key.empty() || req.path.rfind("/v1/", 0) != 0) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    const std::string header = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    const std::string given = header.rfind(prefix, 0) == 0 ? header.substr(prefix.size()) : "";
    if (!constant_time_equal(given, options_.api_key)) {
      // Known routes only as labels: arbitrary paths must not grow the metrics without bound.
      const bool known = req.path == "/v1/chat/completions" || req.path == "/v1/completions" ||
                         req.path == "/v1/models";
      metrics_.count_request(known ? req.path : "other", 401);
      send_error(res, ApiError(401, "Incorrect or missing API key (Authorization: Bearer ...)",
                               "invalid_request_error", std::nullopt, "invalid_api_key"));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) send_error(res, error_for_status(res.status));
  });

  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr error) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        send_error(res, internal_error(std::runtime_error(what)));
      });

  http.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });

  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.render(scheduler_.waiting(), scheduler_.running()),
                    "text/plain; version=0.0.4");
  });

  auto model_json = [this] {
    return json{{"id", served_.name()},
                {"object", "model"},
                {"created", 0},
                {"owned_by", "mimo"},
                {"max_model_len", served_.max_context()}};
  };
  http.Get("/v1/models", [this, model_json](const httplib::Request&, httplib::Response& res) {
    metrics_.count_request("/v1/models", 200);
    res.set_content(dump(json{{"object", "list"}, {"data", json::array({model_json()})}}),
                    "application/json");
  });
  http.Get(
      "/v1/models/(.+)", [this, model_json](const httplib::Request& req, httplib::Response& res) {
        if (req.matches[1] != served_.name()) {
          send_error(
              res, ApiError(404, fmt::format("The model '{}' does not exist", req.matches[1].str()),
                            "invalid_request_error", "model", "model_not_found"));
          return;
        }
        res.set_content(dump(model_json()), "application/json");
      });

  for (Endpoint endpoint : {Endpoint::kChat, Endpoint::kCompletion}) {
    http.Post(endpoint_label(endpoint),
              [this, endpoint](const httplib::Request& req, httplib::Response& res) {
                serve_generation(endpoint, req, res);
              });
  }
}

void HttpServer::serve_generation(Endpoint endpoint, const httplib::Request& req,
                                  httplib::Response& res) {
  const char* label = endpoint_label(endpoint);
  auto answer_error = [&](const ApiError& e) {
    metrics_.count_request(label, e.status);
    send_error(res, e);
  };
  auto pending = std::make_shared<PendingGeneration>();
  try {
    ParseLimits limits{served_.name(), served_.model().summary().vocab_size};
    pending->request = parse_request(endpoint, req.body, limits);
    pending->prompt = build_prompt(served_, pending->request);
    Sampler check(pending->request.sampling);  // refuses bad settings before admission
    pending->ticket = scheduler_.admit();
    if (!pending->ticket) {
      res.set_header("Retry-After", "1");
      throw ApiError(429,
                     fmt::format("The server is busy ({} requests already wait); retry later",
                                 options_.max_waiting),
                     "rate_limit_error", std::nullopt, "queue_full");
    }
  } catch (const ApiError& e) {
    return answer_error(e);
  } catch (const Error& e) {
    return answer_error(invalid_request(e.what()));
  }
  pending->admitted = Clock::now();
  pending->client = std::make_shared<ClientSocket>(req.local_addr, req.local_port, req.remote_addr,
                                                   req.remote_port);
  // The queue is waited in here, before a byte of the answer: a shutdown meanwhile is a real
  // 503, and a client that leaves is noticed and leaves the queue.
  if (!pending->ticket->wait_for_slot([&] { return pending->client->closed(); })) {
    if (scheduler_.is_shut_down()) return answer_error(shutting_down());
    return answer_error(client_closed_request());
  }
  pending->header = new_response_header(endpoint, served_.name());
  if (pending->request.echo) {
    pending->echo_text = pending->request.prompt_is_tokens
                             ? served_.tokenizer().decode(pending->request.prompt_tokens)
                             : pending->request.prompt_text;
  }
  if (pending->request.stream) {
    metrics_.count_request(label, 200);
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider("text/event-stream",
                                     [this, pending](std::size_t, httplib::DataSink& sink) {
                                       return stream_generation(*pending, sink);
                                     });
    return;
  }
  // Not streamed: the answer, or the error with its status, when the generation is over.
  const GenerationRequest& request = pending->request;
  try {
    CollectedAnswer answer;
    answer.content = pending->echo_text;
    const GenerationOutcome outcome = run_generation(*pending, [&](GenerationDelta&& delta) {
      answer.add(std::move(delta));
      return !pending->client->closed();
    });
    if (outcome.finish_reason == "cancelled") {
      if (scheduler_.is_shut_down()) return answer_error(shut_down_during_generation());
      return answer_error(client_closed_request());
    }
    metrics_.count_request(label, 200);
    res.set_content(dump(endpoint == Endpoint::kChat
                             ? chat_response(pending->header, request, answer, outcome)
                             : completion_response(pending->header, request, answer, outcome)),
                    "application/json");
  } catch (const ApiError& e) {
    answer_error(e);
  } catch (const std::exception& e) {
    answer_error(internal_error(e));
  }
}

GenerationOutcome HttpServer::run_generation(PendingGeneration& pending,
                                             const std::function<bool(GenerationDelta&&)>& emit) {
  const double queued = std::chrono::duration<double>(Clock::now() - pending.admitted).count();
  GenerationOutcome outcome =
      generate(served_, *pending.ticket, pending.request, pending.prompt, emit);
  outcome.time_to_first_token_seconds += queued;
  metrics_.record_generation(outcome);
  pending.ticket.reset();
  return outcome;
}

// Streamed: the status (200) is sent; what fails from here on is an error event before [DONE].
// httplib calls a content provider until the sink is done or it returns false, so this runs the
// generation once: true once the stream is complete, false when the client is gone (which
// closes the connection) - and false for any later call.
bool HttpServer::stream_generation(PendingGeneration& pending, httplib::DataSink& sink) {
  if (!pending.ticket) return false;  // the generation ran in an earlier call
  auto write = [&sink](const std::string& text) { return sink.write(text.data(), text.size()); };
  const GenerationRequest& request = pending.request;
  ChunkWriter chunks(pending.header, request);
  try {
    if (request.endpoint == Endpoint::kChat && !write(sse_event(chunks.role_chunk()))) {
      pending.ticket.reset();
      return false;
    }
    if (!pending.echo_text.empty()) {
      GenerationDelta echo;
      echo.content = pending.echo_text;
      if (!write(sse_event(*chunks.delta_chunk(echo)))) {
        pending.ticket.reset();
        return false;
      }
    }
    const GenerationOutcome outcome = run_generation(pending, [&](GenerationDelta&& delta) {
      auto chunk = chunks.delta_chunk(delta);
      return (!chunk || write(sse_event(*chunk))) && !pending.client->closed();
    });
    if (outcome.finish_reason == "cancelled") {
      if (!scheduler_.is_shut_down()) return false;  // the client is gone
      throw shut_down_during_generation();
    }
    write(sse_event(chunks.finish_chunk(outcome.finish_reason)));
    if (request.include_usage) write(sse_event(chunks.usage_chunk(outcome)));
  } catch (const ApiError& e) {
    write(sse_event(e.to_json()));
  } catch (const std::exception& e) {
    write(sse_event(internal_error(e).to_json()));
  }
  pending.ticket.reset();  // an exception may have left it (run_generation resets it otherwise)
  write(sse_done());
  sink.done();
  return true;
}

}  // namespace mimo::server
