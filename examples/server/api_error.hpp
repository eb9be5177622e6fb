// The errors mimo-server answers with, shaped like the OpenAI API's:
//   HTTP <status> {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

namespace mimo::server {

struct ApiError : std::runtime_error {
  ApiError(int status, std::string message, std::string type, std::optional<std::string> param,
           std::optional<std::string> code)
      : std::runtime_error(message),
        status(status),
        type(std::move(type)),
        param(std::move(param)),
        code(std::move(code)) {}

  int status;
  std::string type;  // invalid_request_error, authentication_error, server_error, ...
  std::optional<std::string> param;
  std::optional<std::string> code;

  nlohmann::json to_json() const {
    return {{"error",
             {{"message", what()},
              {"type", type},
              {"param", param ? nlohmann::json(*param) : nlohmann::json(nullptr)},
              {"code", code ? nlohmann::json(*code) : nlohmann::json(nullptr)}}}};
  }
};

// 400 invalid_request_error about one request field.
inline ApiError invalid_request(std::string message, std::optional<std::string> param = {},
                                std::optional<std::string> code = {}) {
  return ApiError(400, std::move(message), "invalid_request_error", std::move(param),
                  std::move(code));
}

}  // namespace mimo::server
